// Command readers reads an env file with the parsers of the tools that read
// them — godotenv, compose-go (docker compose v2's), docker's --env-file —
// and prints what each understood as JSON, for initbox's round-trip tests.
// It is a module of its own so that none of them reach initbox's binary.
//
//	readers godotenv|compose|docker FILE
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/docker/cli/pkg/kvfile"
	"github.com/joho/godotenv"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: readers godotenv|compose|docker FILE")
		os.Exit(2)
	}
	var out map[string]string
	var err error
	switch os.Args[1] {
	case "godotenv":
		out, err = godotenv.Read(os.Args[2])
	case "compose":
		// As `env_file:` reads it: no variable of the environment is visible.
		var f *os.File
		if f, err = os.Open(os.Args[2]); err == nil {
			out, err = dotenv.ParseWithLookup(f, func(string) (string, bool) { return "", false })
			f.Close()
		}
	case "docker":
		var lines []string
		if lines, err = kvfile.Parse(os.Args[2], nil); err == nil {
			out = map[string]string{}
			for _, l := range lines {
				k, v, _ := cut(l)
				out[k] = v
			}
		}
	default:
		err = fmt.Errorf("unknown reader %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	json.NewEncoder(os.Stdout).Encode(out)
}

func cut(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '=' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}
