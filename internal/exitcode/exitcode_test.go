package exitcode

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"
)

type deadline struct{}

func (deadline) Error() string { return "timed out" }
func (deadline) ExitCode() int { return Deadline }

func TestOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, OK},
		{"plain error fails", errors.New("boom"), Failure},
		{"usage", Usagef("bad flag %q", "x"), UsageCode},
		{"wrapped usage keeps its code", fmt.Errorf("parsing: %w", Usagef("bad")), UsageCode},
		{"custom coder", fmt.Errorf("waiting: %w", deadline{}), Deadline},
		{"SIGINT", &Interrupted{Signal: syscall.SIGINT}, SIGINT},
		{"SIGTERM wrapped", fmt.Errorf("x: %w", &Interrupted{Signal: syscall.SIGTERM}), SIGTERM},
		{"context canceled alone is a failure", context.Canceled, Failure},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Of(tc.err); got != tc.want {
				t.Errorf("Of(%v) = %d, want %d", tc.err, got, tc.want)
			}
		})
	}
}

func TestWithCodeNil(t *testing.T) {
	if err := WithCode(UsageCode, nil); err != nil {
		t.Fatalf("WithCode(nil) = %v, want nil", err)
	}
}

func TestInterruptedMessage(t *testing.T) {
	if got := (&Interrupted{Signal: syscall.SIGTERM}).Error(); got != "interrupted by SIGTERM" {
		t.Errorf("message = %q", got)
	}
}
