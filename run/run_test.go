package run

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

// Steps become each command's own argv: arguments by name, every other
// option the flag of that name.
func TestParse(t *testing.T) {
	p, err := Load("../examples/run/plan.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"wait", "--timeout=60s", "http://api:8080/health.json#json-path=.status,json-value=UP", "http://vault:8200/v1/sys/health"},
		{"fetch", "--out=/secrets/db.env", "--mode=0400", "vault://secret/app/db#key=username,as=DB_USER", "vault://secret/app/db#key=password,as=DB_PASSWORD"},
		{"render", "--values=/config/values.yaml", "--values=/config/site.yaml?optional", "--env-prefix=APP_", "--out=/config/", "/templates/"},
		{"seed", "--if-empty=true", "/seed-data", "/data"},
	}
	if len(p.Steps) != len(want) || p.Timeout.String() != "5m0s" {
		t.Fatalf("%d steps, timeout %v", len(p.Steps), p.Timeout)
	}
	for i, s := range p.Steps {
		if !reflect.DeepEqual(s.Argv, want[i]) {
			t.Errorf("step %d: %q, want %q", i+1, s.Argv, want[i])
		}
	}
	if p.Steps[1].Name != "database secret" {
		t.Errorf("name %q", p.Steps[1].Name)
	}
}

func TestParseErrors(t *testing.T) {
	for plan, want := range map[string]string{
		"version: 2\nsteps: [{wait: {targets: [x]}}]":                     "this initbox reads version 1",
		"version: 1\nsteps: []":                                           "no steps",
		"version: 1\nstep: []":                                            `unknown field "step"`,
		"version: 1\nsteps: [{wait: {targets: [x]}, fetch: {refs: [y]}}]": "want exactly one of",
		"version: 1\nsteps: [{copy: {from: x}}]":                          `unknown command "copy"`,
		"version: 1\nsteps: [{wait: [x]}]":                                "wait takes a map",
		"version: 1\nsteps: [{wait: {targets: [x], --timeout: 1s}}]":      "without dashes",
		"version: 1\nsteps: [{wait: {targets: [{a: b}]}}]":                "a list of strings",
		"version: 1\ntimeout: soon\nsteps: [{wait: {targets: [x]}}]":      `timeout "soon"`,
		"version: 1\nsteps: [{name: [a], wait: {targets: [x]}}]":          "name must be a string",
	} {
		if _, err := Parse([]byte(plan)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", plan, err, want)
		}
	}
}

// The JSON Schema in the repository accepts the example plan and refuses
// what Parse refuses.
func TestSchema(t *testing.T) {
	c := jsonschema.NewCompiler()
	sch, err := c.Compile("plan.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, text []byte) error {
		var v any
		if err := yaml.Unmarshal(text, &v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, _ := json.Marshal(v) // JSON types, as a validator sees them
		inst, _ := jsonschema.UnmarshalJSON(strings.NewReader(string(b)))
		return sch.Validate(inst)
	}
	for _, name := range []string{"plan.yaml", "sidecar.yaml"} {
		example, _ := os.ReadFile(filepath.Join("..", "examples", "run", name))
		if err := check(name, example); err != nil {
			t.Errorf("the example plan %s does not match the schema: %v", name, err)
		}
		if _, err := Parse(example); err != nil {
			t.Errorf("the example plan %s: %v", name, err)
		}
	}
	for _, bad := range []string{
		"version: 2\nsteps: [{wait: {targets: [x]}}]",
		"version: 1\nsteps: []",
		"version: 1\nstep: []",
		"version: 1\nsteps: [{wait: {targets: [x]}, fetch: {refs: [y], out: z}}]",
		"version: 1\nsteps: [{copy: {from: x}}]",
		"version: 1\nsteps: [{wait: {timeout: 1s}}]",
		"version: 1\nsteps: [{seed: {source: x}}]",
		"version: 1\ntimeout: soon\nsteps: [{wait: {targets: [x]}}]",
		"version: 1\nsteps: [{wait: {targets: [x], --timeout: 1s}}]",
	} {
		if err := check(bad, []byte(bad)); err == nil {
			t.Errorf("the schema accepts %q", bad)
		}
	}
}
