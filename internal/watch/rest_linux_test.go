package watch

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// codeRSS sums the resident kB of the binary's read-only mappings, the
// pages rest gives back, from /proc/self/smaps.
func codeRSS(t *testing.T) int {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	total, mine, seen := 0, false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if strings.Contains(fields[0], "-") && len(fields) >= 5 {
			// A mapping's header line.
			mine = len(fields) >= 6 && fields[5] == self && !strings.Contains(fields[1], "w")
			seen = seen || mine
			continue
		}
		if mine && fields[0] == "Rss:" && len(fields) >= 2 {
			kb, err := strconv.Atoi(fields[1])
			if err != nil {
				t.Fatalf("smaps: %q", sc.Text())
			}
			total += kb
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if !seen {
		t.Fatalf("no read-only mapping of %s in /proc/self/smaps", self)
	}
	return total
}

// At rest the binary's pages the start touched are given back: what stays
// is the live heap and the pages in use. The measure runs in a fresh
// process of this test binary, so no other test's goroutines fault pages
// back in between the two readings.
func TestRestGivesPagesBack(t *testing.T) {
	if os.Getenv("INITBOX_REST_CHILD") == "1" {
		before := codeRSS(t)
		rest()
		after := codeRSS(t)
		fmt.Printf("code-rss %d %d\n", before, after)
		// The process goes on working: its code faults back in.
		if err := (Options{Refresh: time.Minute}).Validate(); err != nil {
			t.Fatal(err)
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestRestGivesPagesBack$", "-test.count=1")
	cmd.Env = append(os.Environ(), "INITBOX_REST_CHILD=1", "GOMAXPROCS=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var before, after int
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "code-rss "); ok {
			fmt.Sscan(v, &before, &after)
		}
	}
	if before == 0 {
		t.Fatalf("child printed no measure:\n%s", out)
	}
	// Reading smaps and printing fault some code back in before the second
	// reading (about 40% here); without rest nothing at all would go.
	if after > before*3/4 {
		t.Errorf("the binary's read-only pages: %d kB resident before rest, %d kB after: they were not given back", before, after)
	}
	t.Logf("read-only pages of the binary: %d kB before rest, %d kB after", before, after)
}
