// Command initbox is the multi-call binary: `initbox <command>` or a link
// named after a command (wait-for). See internal/app.
package main

import (
	"context"
	"os"

	"github.com/initbox/initbox/internal/app"
)

func main() {
	ctx, stop := app.SignalContext(context.Background())
	code := app.Main(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
