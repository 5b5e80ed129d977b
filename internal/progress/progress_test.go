package progress

import (
	"strings"
	"testing"
	"time"

	"github.com/initbox/initbox/internal/testlog"
)

func TestHuman(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1536: "1.5 KiB", 1 << 30: "1.0 GiB", 5 << 40: "5.0 TiB"} {
		if got := Human(n); got != want {
			t.Errorf("Human(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestMeterLogsWhileRunning(t *testing.T) {
	logs := testlog.Capture(t)
	m := &Meter{What: "files", Total: 10, TotalBytes: 10 << 20}
	m.Done.Store(4)
	m.Bytes.Store(4 << 20)
	stop := m.Start(t.Context(), 20*time.Millisecond)
	time.Sleep(70 * time.Millisecond)
	stop()
	n := strings.Count(logs.String(), `msg=progress files=4/10 bytes="4.0 MiB/10.0 MiB" rate=`)
	if n < 2 || !strings.Contains(logs.String(), "eta=") {
		t.Errorf("%d progress lines:\n%s", n, logs)
	}
}
