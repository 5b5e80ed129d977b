//go:build !linux

package publish

import "errors"

// syncFS is not available here: syncTree fsyncs every file and directory.
var syncFS = func(string) error { return errors.New("syncfs: not on this OS") }
