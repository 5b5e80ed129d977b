// Package exitcode defines the exit codes every initbox command shares
// (docs/design.md §2) and maps errors onto them.
//
// Any error in a chain may carry its code by implementing ExitCode() int;
// Of finds it with errors.As, so wrapping never loses it:
//
//	return exitcode.Usage(fmt.Errorf("target %q: missing port", raw)) // exits 2
package exitcode

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// The exit codes, as documented in README.md.
const (
	OK        = 0   // done
	Failure   = 1   // the work could not be done
	UsageCode = 2   // bad flags, bad URL, bad config: nothing was attempted
	Deadline  = 124 // --timeout ran out while retrying
	SIGINT    = 130 // interrupted by SIGINT
	SIGTERM   = 143 // interrupted by SIGTERM
)

// Error attaches an exit code to an error.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// ExitCode reports the code the process should exit with.
func (e *Error) ExitCode() int { return e.Code }

// WithCode returns err carrying code. A nil err stays nil.
func WithCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Code: code, Err: err}
}

// Usage marks err as a usage error (exit 2): the input was wrong and nothing
// was attempted. An error that already carries a code keeps it (a bad file
// found while checking the input is a failure, exit 1).
func Usage(err error) error {
	var c coder
	if errors.As(err, &c) {
		return err
	}
	return WithCode(UsageCode, err)
}

// Usagef is Usage(fmt.Errorf(format, args...)).
func Usagef(format string, args ...any) error { return Usage(fmt.Errorf(format, args...)) }

// IsUsage reports whether err maps to the usage exit code.
func IsUsage(err error) bool { return Of(err) == UsageCode }

// Interrupted is the cancellation cause installed when a signal arrives.
type Interrupted struct {
	Signal os.Signal
}

func (e *Interrupted) Error() string { return "interrupted by " + signalName(e.Signal) }

// ExitCode is 128 plus the signal number, as a shell reports it.
func (e *Interrupted) ExitCode() int {
	if s, ok := e.Signal.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return Failure
}

func signalName(s os.Signal) string {
	switch s {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return s.String()
}

type coder interface{ ExitCode() int }

// Of returns the exit code for err: 0 for nil, the code of the first error in
// the chain that carries one, else Failure.
func Of(err error) int {
	if err == nil {
		return OK
	}
	var c coder
	if errors.As(err, &c) {
		return c.ExitCode()
	}
	return Failure
}
