package render

import (
	"bytes"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"unicode/utf8"

	"github.com/BurntSushi/toml"
	"github.com/Masterminds/goutils"
	"github.com/gosimple/slug"
	"golang.org/x/text/cases"
	"golang.org/x/text/language"
	goyaml "sigs.k8s.io/yaml/goyaml.v3"
)

// gomplateFuncs overlays gomplate's namespaces (env, strings, conv, coll,
// data, math, base64, path, filepath, regexp, test) and its top-level
// aliases (getenv, json, toYAML, has, join, …) on sprig's, with gomplate's
// argument orders: the input last, so that it can be piped. datasource
// and ds read --data. A namespace initbox has not is an error naming the
// initbox way.
func (e *engine) gomplateFuncs(f template.FuncMap, env map[string]string, prefix string) {
	ge := &gompEnv{env: env, prefix: prefix}
	st, cv, co, da, ma := &gompStrings{}, &gompConv{}, &gompColl{}, &gompData{}, &gompMath{budget: e.budget}
	b64, pa, fp, re, te := &gompBase64{}, &gompPath{}, &gompFilepath{}, &gompRegexp{}, &gompTest{}
	// Each namespace a function of its own type, so that an unknown
	// function's error names the namespace (gomplateError).
	f["env"] = func() *gompEnv { return ge }
	f["strings"] = func() *gompStrings { return st }
	f["conv"] = func() *gompConv { return cv }
	f["coll"] = func() *gompColl { return co }
	f["data"] = func() *gompData { return da }
	f["math"] = func() *gompMath { return ma }
	f["base64"] = func() *gompBase64 { return b64 }
	f["path"] = func() *gompPath { return pa }
	f["filepath"] = func() *gompFilepath { return fp }
	f["regexp"] = func() *gompRegexp { return re }
	f["test"] = func() *gompTest { return te }
	for name, hint := range gompMissing {
		f[name] = func() (any, error) {
			return nil, fmt.Errorf("gomplate's %s namespace is not in initbox --funcs gomplate: %s", name, hint)
		}
	}
	aliases := map[string]any{
		"getenv": ge.Getenv,
		// strings
		"replaceAll": st.ReplaceAll, "title": st.Title, "toUpper": st.ToUpper, "toLower": st.ToLower,
		"trimSpace": st.TrimSpace, "indent": st.Indent, "quote": st.Quote, "shellQuote": st.ShellQuote, "squote": st.Squote,
		// conv
		"bool": cv.Bool, "default": cv.Default, "join": cv.Join, "urlParse": cv.URL,
		// coll
		"dict": co.Dict, "has": co.Has, "keys": co.Keys, "values": co.Values, "append": co.Append, "prepend": co.Prepend,
		"uniq": co.Uniq, "reverse": co.Reverse, "sort": co.Sort, "merge": co.Merge, "flatten": co.Flatten,
		"set": co.Set, "unset": co.Unset,
		// data
		"json": da.JSON, "jsonArray": da.JSONArray, "yaml": da.YAML, "yamlArray": da.YAMLArray, "toml": da.TOML,
		"csv": da.CSV, "csvByRow": da.CSVByRow, "csvByColumn": da.CSVByColumn,
		"toJSON": da.ToJSON, "toJSONPretty": da.ToJSONPretty, "toYAML": da.ToYAML, "toTOML": da.ToTOML, "toCSV": da.ToCSV,
		// math
		"add": ma.Add, "sub": ma.Sub, "mul": ma.Mul, "div": ma.Div, "rem": ma.Rem, "pow": ma.Pow, "seq": ma.Seq,
		// test
		"fail": te.Fail, "required": te.Required, "ternary": te.Ternary, "kind": te.Kind, "isKind": te.IsKind, "assert": te.Assert,
	}
	for name, fn := range aliases {
		f[name] = fn
	}
	ds := func(alias string, sub ...string) (any, error) {
		v, ok := e.data[alias]
		if !ok {
			return nil, fmt.Errorf("datasource %q: no --data %s=PATH given (initbox reads gomplate's datasources from --data)", alias, alias)
		}
		if len(sub) > 0 {
			return nil, fmt.Errorf("datasource %q %q: a subpath is not supported; index the data instead: (ds %q).key", alias, sub[0], alias)
		}
		return v, nil
	}
	noCUE := func(...any) (string, error) {
		return "", errors.New("CUE is not in initbox --funcs gomplate; write the data as JSON or YAML (data.JSON, data.YAML, data.ToJSON, data.ToYAML)")
	}
	f["cue"], f["toCUE"] = noCUE, noCUE
	f["datasource"], f["ds"] = ds, ds
	f["datasourceExists"] = func(alias string) bool { _, ok := e.data[alias]; return ok }
	f["datasourceReachable"] = f["datasourceExists"]
	f["listDatasources"] = func() []string { return slices.Sorted(mapKeys(e.data)) }
	f["defineDatasource"] = func(alias, url string) (string, error) {
		return "", fmt.Errorf("defineDatasource %q: initbox reads no files or URLs from a template: give --data %s=PATH", alias, alias)
	}
	f["include"] = func(alias string, sub ...string) (string, error) {
		v, ok := e.data[alias]
		if s, isText := v.(string); ok && isText && len(sub) == 0 {
			return s, nil
		}
		return "", fmt.Errorf("include %q: gomplate's include gives a datasource's raw text: give --data %s=PATH?format=text", alias, alias)
	}
}

func mapKeys(m map[string]any) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// gompMissing are gomplate's namespaces that reach outside the declared
// data (files, the network, clouds, the clock, randomness).
var gompMissing = map[string]string{
	"file":     "initbox reads no files from a template; give the file with --data NAME=PATH and use (ds \"NAME\")",
	"net":      "initbox renders without the network; resolve it before, or use initbox wait",
	"sockaddr": "initbox renders without the network",
	"aws":      "fetch from AWS first (initbox fetch s3://…) and pass the result with --data",
	"gcp":      "fetch from GCP first and pass the result with --data",
	"time":     "a render is reproducible, without the clock; pass a time as a value",
	"random":   "a render is reproducible; sprig's randAlphaNum and friends are there",
	"uuid":     "a render is reproducible; sprig's uuidv4 is there",
	"crypto":   "sprig's sha256sum, sha1sum, bcrypt, … are there",
	"semver":   "sprig's semver and semverCompare are there",
	"tmpl":     "use include (a template) or tpl (a string)",
}

// gompUnknown rewrites text/template's "can't evaluate field F in type
// *render.gompX" into a message naming gomplate's function.
var gompUnknown = regexp.MustCompile(`can't evaluate field (\w+) in type \*render\.gomp(\w+)`)

func gomplateError(msg string) string {
	return gompUnknown.ReplaceAllStringFunc(msg, func(m string) string {
		s := gompUnknown.FindStringSubmatch(m)
		return fmt.Sprintf("gomplate's %s.%s is not in initbox --funcs gomplate (see docs/render.md for what is)", strings.ToLower(s[2]), s[1])
	})
}

// Conversions, as gomplate's conv package does them.

func gToString(v any) string {
	switch t := v.(type) {
	case nil:
		return "nil"
	case string:
		return t
	case fmt.Stringer:
		return t.String()
	case []byte:
		return string(t)
	}
	return fmt.Sprint(v)
}

func gToInt64(v any) (int64, error) {
	if s, ok := v.(string); ok {
		s = strings.ReplaceAll(s, ",", "")
		if i, err := strconv.ParseInt(s, 0, 64); err == nil {
			return i, nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, fmt.Errorf("could not convert %q to int64", s)
		}
		return int64(f), nil
	}
	r := reflect.Indirect(reflect.ValueOf(v))
	switch r.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return r.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if r.Uint() > math.MaxInt64 {
			return 0, fmt.Errorf("could not convert %d to int64, would overflow", r.Uint())
		}
		return int64(r.Uint()), nil
	case reflect.Float32, reflect.Float64:
		return int64(r.Float()), nil
	case reflect.Bool:
		if r.Bool() {
			return 1, nil
		}
		return 0, nil
	}
	return 0, fmt.Errorf("could not convert %v to int64", v)
}

func gToInt(v any) (int, error) {
	i, err := gToInt64(v)
	if err != nil {
		return 0, err
	}
	if i < math.MinInt || i > math.MaxInt {
		return 0, fmt.Errorf("could not convert %v to int", v)
	}
	return int(i), nil
}

func gToFloat64(v any) (float64, error) {
	if s, ok := v.(string); ok {
		s = strings.ReplaceAll(s, ",", "")
		if i, err := strconv.ParseInt(s, 0, 64); err == nil {
			return float64(i), nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, fmt.Errorf("could not convert %q to float64", s)
		}
		return f, nil
	}
	r := reflect.Indirect(reflect.ValueOf(v))
	switch r.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(r.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return float64(r.Uint()), nil
	case reflect.Float32, reflect.Float64:
		return r.Float(), nil
	case reflect.Bool:
		if r.Bool() {
			return 1, nil
		}
		return 0, nil
	}
	return 0, fmt.Errorf("could not convert %v to float64", v)
}

func gToBool(v any) bool {
	switch t := v.(type) {
	case bool:
		return t
	case string:
		switch s := strings.ToLower(t); s {
		case "1", "t", "true", "yes":
			return true
		default:
			f, _ := gToFloat64(s)
			return f == 1
		}
	}
	r := reflect.Indirect(reflect.ValueOf(v))
	switch r.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return r.Int() == 1
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return r.Uint() == 1
	case reflect.Float32, reflect.Float64:
		return r.Float() == 1
	}
	return false
}

// gSlice turns any list into []any.
func gSlice(v any) ([]any, error) {
	if l, ok := v.([]any); ok {
		return slices.Clone(l), nil
	}
	r := reflect.ValueOf(v)
	if r.Kind() != reflect.Slice && r.Kind() != reflect.Array {
		return nil, fmt.Errorf("expected an array or slice, got %T", v)
	}
	out := make([]any, r.Len())
	for i := range out {
		out[i] = r.Index(i).Interface()
	}
	return out, nil
}

// env

type gompEnv struct {
	env    map[string]string
	prefix string
}

func (g *gompEnv) lookup(name string) (string, bool, error) {
	if !strings.HasPrefix(name, g.prefix) {
		return "", false, fmt.Errorf("env %q: only variables starting with %q are visible (--env-prefix)", name, g.prefix)
	}
	v, ok := g.env[name]
	if (!ok || v == "") && g.env[name+"_FILE"] != "" {
		return "", false, fmt.Errorf("getenv %q: %s_FILE is set, and gomplate would read that file; initbox reads no files from a template: give --data %s=$%s_FILE?format=text and use (ds %q)", name, name, strings.ToLower(name), name, strings.ToLower(name))
	}
	return v, ok, nil
}

func (g *gompEnv) Getenv(name any, def ...string) (string, error) {
	v, _, err := g.lookup(gToString(name))
	if err != nil {
		return "", err
	}
	if v == "" && len(def) > 0 {
		return def[0], nil
	}
	return v, nil
}

func (g *gompEnv) HasEnv(name any) (bool, error) {
	_, ok, err := g.lookup(gToString(name))
	return ok, err
}

func (g *gompEnv) Env() map[string]string {
	out := map[string]string{}
	for k, v := range g.env {
		if strings.HasPrefix(k, g.prefix) {
			out[k] = v
		}
	}
	return out
}

func (g *gompEnv) ExpandEnv(s any) (string, error) {
	var err error
	out := os.Expand(gToString(s), func(k string) string {
		v, _, e := g.lookup(k)
		if e != nil && err == nil {
			err = e
		}
		return v
	})
	return out, err
}

// strings

type gompStrings struct{}

func (gompStrings) Abbrev(args ...any) (string, error) {
	offset, width := 0, 0
	var s string
	var err error
	switch len(args) {
	case 2:
		if width, err = gToInt(args[0]); err != nil {
			return "", fmt.Errorf("strings.Abbrev: width must be an integer: %w", err)
		}
		s = gToString(args[1])
	case 3:
		if offset, err = gToInt(args[0]); err != nil {
			return "", fmt.Errorf("strings.Abbrev: offset must be an integer: %w", err)
		}
		if width, err = gToInt(args[1]); err != nil {
			return "", fmt.Errorf("strings.Abbrev: width must be an integer: %w", err)
		}
		s = gToString(args[2])
	default:
		return "", errors.New("strings.Abbrev: wants a width and an input")
	}
	if len(s) <= width {
		return s, nil
	}
	return goutils.AbbreviateFull(s, offset, width)
}

func (gompStrings) Contains(sub string, s any) bool  { return strings.Contains(gToString(s), sub) }
func (gompStrings) HasPrefix(p string, s any) bool   { return strings.HasPrefix(gToString(s), p) }
func (gompStrings) HasSuffix(p string, s any) bool   { return strings.HasSuffix(gToString(s), p) }
func (gompStrings) Split(sep string, s any) []string { return strings.Split(gToString(s), sep) }
func (gompStrings) Trim(cut string, s any) string    { return strings.Trim(gToString(s), cut) }
func (gompStrings) TrimLeft(cut string, s any) string {
	return strings.TrimLeft(gToString(s), cut)
}
func (gompStrings) TrimRight(cut string, s any) string {
	return strings.TrimRight(gToString(s), cut)
}
func (gompStrings) TrimPrefix(p string, s any) string { return strings.TrimPrefix(gToString(s), p) }
func (gompStrings) TrimSuffix(p string, s any) string { return strings.TrimSuffix(gToString(s), p) }
func (gompStrings) TrimSpace(s any) string            { return strings.TrimSpace(gToString(s)) }
func (gompStrings) ReplaceAll(old, new string, s any) string {
	return strings.ReplaceAll(gToString(s), old, new)
}
func (gompStrings) Title(s any) string {
	return cases.Title(language.Und, cases.NoLower).String(gToString(s))
}
func (gompStrings) ToUpper(s any) string { return cases.Upper(language.Und).String(gToString(s)) }
func (gompStrings) ToLower(s any) string { return cases.Lower(language.Und).String(gToString(s)) }
func (gompStrings) Quote(s any) string   { return fmt.Sprintf("%q", gToString(s)) }
func (gompStrings) Squote(s any) string {
	return "'" + strings.ReplaceAll(gToString(s), "'", "''") + "'"
}
func (gompStrings) Slug(s any) string { return slug.Make(gToString(s)) }
func (gompStrings) RuneCount(args ...any) int {
	n := 0
	for _, a := range args {
		n += utf8.RuneCountInString(gToString(a))
	}
	return n
}

func (gompStrings) SplitN(sep string, n any, s any) ([]string, error) {
	c, err := gToInt(n)
	if err != nil {
		return nil, fmt.Errorf("strings.SplitN: %w", err)
	}
	return strings.SplitN(gToString(s), sep, c), nil
}

func (gompStrings) Repeat(count any, s any) (string, error) {
	n, err := gToInt(count)
	if err != nil {
		return "", fmt.Errorf("strings.Repeat: %w", err)
	}
	str := gToString(s)
	if n < 0 || n > maxCount || len(str)*n > 64<<20 {
		return "", fmt.Errorf("strings.Repeat %d: refused", n)
	}
	return strings.Repeat(str, n), nil
}

func (gompStrings) SkipLines(skip any, s any) (string, error) {
	n, err := gToInt(skip)
	if err != nil || n < 0 {
		return "", fmt.Errorf("strings.SkipLines: skip must be an integer >= 0")
	}
	if n == 0 {
		return gToString(s), nil
	}
	lines := strings.SplitN(gToString(s), "\n", n+1)
	if n >= len(lines) {
		return "", nil
	}
	return lines[n], nil
}

func (gompStrings) Trunc(length any, s any) (string, error) {
	n, err := gToInt(length)
	if err != nil {
		return "", fmt.Errorf("strings.Trunc: %w", err)
	}
	str := gToString(s)
	if n < 0 || len(str) <= n {
		return str, nil
	}
	return str[:n], nil
}

func (gompStrings) Indent(args ...any) (string, error) {
	width, indent := 1, " "
	switch len(args) {
	case 0:
		return "", errors.New("strings.Indent: expected at least 1 argument")
	case 1:
	case 2:
		switch a := args[0].(type) {
		case string:
			indent = a
		case int:
			width = a
		default:
			return "", errors.New("strings.Indent: invalid arguments")
		}
	case 3:
		w, ok1 := args[0].(int)
		in, ok2 := args[1].(string)
		if !ok1 || !ok2 {
			return "", errors.New("strings.Indent: invalid arguments")
		}
		width, indent = w, in
	default:
		return "", errors.New("strings.Indent: too many arguments")
	}
	if width <= 0 || width > maxCount {
		return "", errors.New("strings.Indent: width must be > 0")
	}
	if strings.Contains(indent, "\n") {
		return "", errors.New("strings.Indent: indent must not contain '\\n'")
	}
	indent = strings.Repeat(indent, width)
	s := gToString(args[len(args)-1])
	var b strings.Builder
	bol := true
	for i := range len(s) {
		if bol && s[i] != '\n' {
			b.WriteString(indent)
		}
		b.WriteByte(s[i])
		bol = s[i] == '\n'
	}
	return b.String(), nil
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'" }

func (gompStrings) ShellQuote(in any) string {
	r := reflect.ValueOf(in)
	if r.Kind() == reflect.Slice || r.Kind() == reflect.Array {
		parts := make([]string, r.Len())
		for i := range parts {
			parts[i] = shellQuote(gToString(r.Index(i).Interface()))
		}
		return strings.Join(parts, " ")
	}
	return shellQuote(gToString(in))
}

var (
	gSpaces      = regexp.MustCompile(`\s+`)
	gNonAlphaNum = regexp.MustCompile(`[^\pL\pN]+`)
)

// casePrepare lowers all but the first letter and turns what is not a
// letter or digit into single spaces.
func casePrepare(in string) string {
	in = strings.TrimSpace(in)
	if in == "" {
		return ""
	}
	s := strings.ToLower(in)
	s = strings.Replace(s, s[:1], in[:1], 1)
	return strings.TrimSpace(gNonAlphaNum.ReplaceAllString(s, " "))
}

func (gompStrings) SnakeCase(in any) string {
	return gSpaces.ReplaceAllString(casePrepare(gToString(in)), "_")
}

func (gompStrings) KebabCase(in any) string {
	return gSpaces.ReplaceAllString(casePrepare(gToString(in)), "-")
}

func (gompStrings) CamelCase(in any) string {
	s := strings.TrimSpace(gToString(in))
	if s == "" {
		return ""
	}
	t := cases.Title(language.Und).String(s)
	t = strings.Replace(t, t[:1], s[:1], 1)
	return gNonAlphaNum.ReplaceAllString(t, "")
}

func (gompStrings) WordWrap(args ...any) (string, error) {
	if len(args) == 0 || len(args) > 3 {
		return "", fmt.Errorf("strings.WordWrap: expected 1, 2, or 3 args, got %d", len(args))
	}
	width, lb := int64(0), ""
	var err error
	switch len(args) {
	case 2:
		if s, ok := args[0].(string); ok {
			lb = s
		} else if width, err = gToInt64(args[0]); err != nil {
			return "", fmt.Errorf("strings.WordWrap: expected width to be a number: %w", err)
		}
	case 3:
		if width, err = gToInt64(args[0]); err != nil {
			return "", fmt.Errorf("strings.WordWrap: expected width to be a number: %w", err)
		}
		lb = gToString(args[1])
	}
	if width <= 0 {
		width = 80
	}
	if width > maxCount {
		width = maxCount
	}
	if lb == "" {
		lb = "\n"
	}
	return goutils.WrapCustom(gToString(args[len(args)-1]), int(width), lb, false), nil
}

// conv

type gompConv struct{}

func (gompConv) Bool(in any) bool   { return gToBool(in) }
func (gompConv) ToBool(in any) bool { return gToBool(in) }
func (gompConv) ToBools(in ...any) []bool {
	out := make([]bool, len(in))
	for i, v := range in {
		out[i] = gToBool(v)
	}
	return out
}

// Default is gomplate's: the default when the input is empty (as
// template's truth has it), else the input.
func (gompConv) Default(def any, in ...any) any {
	if len(in) == 0 || !truth(in[0]) {
		return def
	}
	return in[0]
}

func truth(v any) bool {
	r := reflect.ValueOf(v)
	if !r.IsValid() {
		return false
	}
	switch r.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return r.Len() > 0
	case reflect.Bool:
		return r.Bool()
	case reflect.Complex64, reflect.Complex128:
		return r.Complex() != 0
	case reflect.Chan, reflect.Func, reflect.Pointer, reflect.Interface:
		return !r.IsNil()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return r.Int() != 0
	case reflect.Float32, reflect.Float64:
		return r.Float() != 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return r.Uint() != 0
	}
	return true
}

func (gompConv) Join(in any, sep string) (string, error) {
	if s, ok := in.([]string); ok {
		return strings.Join(s, sep), nil
	}
	l, err := gSlice(in)
	if err != nil {
		return "", fmt.Errorf("join: the input must be an array: %w", err)
	}
	parts := make([]string, len(l))
	for i, v := range l {
		parts[i] = gToString(v)
	}
	return strings.Join(parts, sep), nil
}

func (gompConv) URL(in any) (*url.URL, error) {
	u, err := url.Parse(gToString(in))
	if err != nil {
		return nil, fmt.Errorf("conv.URL: %w", err)
	}
	return u, nil
}

func (gompConv) ParseInt(s any, base, bits int) (int64, error) {
	i, _ := strconv.ParseInt(gToString(s), base, bits)
	return i, nil
}

func (gompConv) ParseFloat(s any, bits int) (float64, error) {
	f, _ := strconv.ParseFloat(gToString(s), bits)
	return f, nil
}

func (gompConv) ParseUint(s any, base, bits int) (uint64, error) {
	u, _ := strconv.ParseUint(gToString(s), base, bits)
	return u, nil
}

func (gompConv) Atoi(s any) int {
	i, _ := strconv.Atoi(gToString(s))
	return i
}

func (gompConv) ToInt64(in any) (int64, error)     { return gToInt64(in) }
func (gompConv) ToInt(in any) (int, error)         { return gToInt(in) }
func (gompConv) ToFloat64(in any) (float64, error) { return gToFloat64(in) }
func (gompConv) ToString(in any) string            { return gToString(in) }

func (gompConv) ToInt64s(in ...any) ([]int64, error) { return convAll(in, gToInt64) }
func (gompConv) ToInts(in ...any) ([]int, error)     { return convAll(in, gToInt) }
func (gompConv) ToFloat64s(in ...any) ([]float64, error) {
	return convAll(in, gToFloat64)
}
func (gompConv) ToStrings(in ...any) []string {
	out := make([]string, len(in))
	for i, v := range in {
		out[i] = gToString(v)
	}
	return out
}

func convAll[T any](in []any, f func(any) (T, error)) ([]T, error) {
	out := make([]T, len(in))
	for i, v := range in {
		x, err := f(v)
		if err != nil {
			return nil, err
		}
		out[i] = x
	}
	return out, nil
}

// coll

type gompColl struct{}

func (gompColl) Slice(args ...any) []any { return args }

func (gompColl) GoSlice(item any, idx ...int) (any, error) {
	r := reflect.ValueOf(item)
	if r.Kind() != reflect.String && r.Kind() != reflect.Slice && r.Kind() != reflect.Array {
		return nil, fmt.Errorf("coll.GoSlice: can't slice a %T", item)
	}
	lo, hi := 0, r.Len()
	if len(idx) > 0 {
		lo = idx[0]
	}
	if len(idx) > 1 {
		hi = idx[1]
	}
	if len(idx) > 2 || lo < 0 || hi < lo || hi > r.Len() {
		return nil, fmt.Errorf("coll.GoSlice: index out of range: %v", idx)
	}
	return r.Slice(lo, hi).Interface(), nil
}

func (gompColl) Has(in any, key any) bool {
	r := reflect.ValueOf(in)
	switch r.Kind() {
	case reflect.Map:
		k := reflect.ValueOf(key)
		if !k.IsValid() || !k.Type().AssignableTo(r.Type().Key()) {
			return false
		}
		return r.MapIndex(k).IsValid()
	case reflect.Slice, reflect.Array:
		for i := range r.Len() {
			if reflect.DeepEqual(r.Index(i).Interface(), key) {
				return true
			}
		}
	}
	return false
}

func (gompColl) Index(args ...any) (any, error) {
	if len(args) < 2 {
		return nil, fmt.Errorf("coll.Index: wrong number of args: wanted at least 2, got %d", len(args))
	}
	v := args[len(args)-1]
	for _, k := range args[:len(args)-1] {
		r := reflect.ValueOf(v)
		switch r.Kind() {
		case reflect.Map:
			kv := reflect.ValueOf(k)
			if !kv.IsValid() || !kv.Type().AssignableTo(r.Type().Key()) {
				return nil, fmt.Errorf("coll.Index: key %v: wrong type", k)
			}
			x := r.MapIndex(kv)
			if !x.IsValid() {
				return nil, nil
			}
			v = x.Interface()
		case reflect.Slice, reflect.Array, reflect.String:
			i, err := gToInt(k)
			if err != nil || i < 0 || i >= r.Len() {
				return nil, fmt.Errorf("coll.Index: index %v out of range", k)
			}
			v = r.Index(i).Interface()
		default:
			return nil, fmt.Errorf("coll.Index: can't index a %T", v)
		}
	}
	return v, nil
}

func (gompColl) Dict(in ...any) map[string]any {
	d := map[string]any{}
	for i := 0; i < len(in); i += 2 {
		k := gToString(in[i])
		if i+1 >= len(in) {
			d[k] = ""
			continue
		}
		d[k] = in[i+1]
	}
	return d
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (gompColl) Keys(in ...map[string]any) ([]string, error) {
	if len(in) == 0 {
		return nil, errors.New("coll.Keys: need at least one argument")
	}
	out := []string{}
	for _, m := range in {
		out = append(out, sortedKeys(m)...)
	}
	return out, nil
}

func (gompColl) Values(in ...map[string]any) ([]any, error) {
	if len(in) == 0 {
		return nil, errors.New("coll.Values: need at least one argument")
	}
	out := []any{}
	for _, m := range in {
		for _, k := range sortedKeys(m) {
			out = append(out, m[k])
		}
	}
	return out, nil
}

func (gompColl) Append(v any, list any) ([]any, error) {
	l, err := gSlice(list)
	if err != nil {
		return nil, fmt.Errorf("append: %w", err)
	}
	return append(l, v), nil
}

func (gompColl) Prepend(v any, list any) ([]any, error) {
	l, err := gSlice(list)
	if err != nil {
		return nil, fmt.Errorf("prepend: %w", err)
	}
	return append([]any{v}, l...), nil
}

func (c gompColl) Uniq(list any) ([]any, error) {
	l, err := gSlice(list)
	if err != nil {
		return nil, fmt.Errorf("uniq: %w", err)
	}
	out := []any{}
	for _, v := range l {
		if !c.Has(out, v) {
			out = append(out, v)
		}
	}
	return out, nil
}

func (gompColl) Reverse(list any) ([]any, error) {
	l, err := gSlice(list)
	if err != nil {
		return nil, fmt.Errorf("reverse: %w", err)
	}
	slices.Reverse(l)
	return l, nil
}

func (gompColl) Merge(dst map[string]any, srcs ...map[string]any) map[string]any {
	for _, src := range srcs {
		dst = gMerge(src, dst)
	}
	return dst
}

// gMerge is base with over's keys on top, maps merged key by key.
func gMerge(base, over map[string]any) map[string]any {
	out := make(map[string]any, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		om, ok1 := v.(map[string]any)
		bm, ok2 := out[k].(map[string]any)
		if ok1 && ok2 {
			out[k] = gMerge(bm, om)
		} else {
			out[k] = v
		}
	}
	return out
}

func (gompColl) Sort(args ...any) ([]any, error) {
	var key string
	var list any
	switch len(args) {
	case 1:
		list = args[0]
	case 2:
		key, list = gToString(args[0]), args[1]
	default:
		return nil, fmt.Errorf("sort: wrong number of args: wanted 1 or 2, got %d", len(args))
	}
	if list == nil {
		return nil, nil
	}
	l, err := gSlice(list)
	if err != nil {
		return nil, fmt.Errorf("sort: %w", err)
	}
	for _, v := range l {
		if reflect.ValueOf(v).Kind() != reflect.ValueOf(l[0]).Kind() {
			return l, nil // mixed kinds stay as they are, as in gomplate
		}
	}
	sort.SliceStable(l, func(i, j int) bool { return gLess(key, l[i], l[j]) })
	return l, nil
}

func gLess(key string, a, b any) bool {
	x, y := reflect.Indirect(reflect.ValueOf(a)), reflect.Indirect(reflect.ValueOf(b))
	switch x.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return y.CanInt() && x.Int() < y.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return y.CanUint() && x.Uint() < y.Uint()
	case reflect.Float32, reflect.Float64:
		return y.CanFloat() && x.Float() < y.Float()
	case reflect.String:
		return y.Kind() == reflect.String && x.String() < y.String()
	case reflect.Map:
		m1, ok1 := a.(map[string]any)
		m2, ok2 := b.(map[string]any)
		if !ok1 || !ok2 {
			return false
		}
		v1, in := m1[key]
		if !in {
			return false
		}
		return gLess("", v1, m2[key])
	}
	return false
}

func (gompColl) Flatten(args ...any) ([]any, error) {
	depth := -1
	var list any
	switch len(args) {
	case 1:
		list = args[0]
	case 2:
		d, err := gToInt(args[0])
		if err != nil {
			return nil, fmt.Errorf("flatten: wrong depth type: must be int, got %T", args[0])
		}
		depth, list = d, args[1]
	default:
		return nil, fmt.Errorf("flatten: wrong number of args: wanted 1 or 2, got %d", len(args))
	}
	return gFlatten(list, depth, 0)
}

func gFlatten(list any, depth, level int) ([]any, error) {
	if level > maxNestingData {
		return nil, fmt.Errorf("flatten: nested more than %d deep", maxNestingData)
	}
	l, err := gSlice(list)
	if err != nil {
		return nil, fmt.Errorf("flatten: %w", err)
	}
	if depth == 0 {
		return l, nil
	}
	out := make([]any, 0, len(l))
	for _, v := range l {
		if k := reflect.ValueOf(v).Kind(); k == reflect.Slice || k == reflect.Array {
			inner, err := gFlatten(v, depth-1, level+1)
			if err != nil {
				return nil, err
			}
			out = append(out, inner...)
			continue
		}
		out = append(out, v)
	}
	return out, nil
}

const maxNestingData = 1000

// pickOmitArgs reads keys... map (or one list of keys, then the map).
func pickOmitArgs(fn string, args []any) (map[string]any, []string, error) {
	if len(args) < 2 {
		return nil, nil, fmt.Errorf("%s: wrong number of args: wanted 2 or more, got %d", fn, len(args))
	}
	m, ok := args[len(args)-1].(map[string]any)
	if !ok {
		return nil, nil, fmt.Errorf("%s: wrong map type: must be map[string]any, got %T", fn, args[len(args)-1])
	}
	ks := args[:len(args)-1]
	if len(ks) == 1 {
		if l, err := gSlice(ks[0]); err == nil {
			ks = l
		}
	}
	keys := make([]string, len(ks))
	for i, k := range ks {
		s, ok := k.(string)
		if !ok {
			return nil, nil, fmt.Errorf("%s: wrong key type: must be string, got %T (%+v)", fn, k, k)
		}
		keys[i] = s
	}
	return m, keys, nil
}

func (gompColl) Pick(args ...any) (map[string]any, error) {
	m, keys, err := pickOmitArgs("coll.Pick", args)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	for k, v := range m {
		if slices.Contains(keys, k) {
			out[k] = v
		}
	}
	return out, nil
}

func (gompColl) Omit(args ...any) (any, error) {
	if len(args) >= 2 {
		if last, err := gSlice(args[len(args)-1]); err == nil {
			values := args[:len(args)-1]
			if len(values) == 1 {
				if l, err := gSlice(values[0]); err == nil {
					values = l
				}
			}
			out := []any{}
			for _, v := range last {
				if !slices.ContainsFunc(values, func(x any) bool { return reflect.DeepEqual(v, x) }) {
					out = append(out, v)
				}
			}
			return out, nil
		}
	}
	m, keys, err := pickOmitArgs("coll.Omit", args)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	for k, v := range m {
		if !slices.Contains(keys, k) {
			out[k] = v
		}
	}
	return out, nil
}

func (gompColl) Set(key string, value any, m map[string]any) map[string]any {
	m[key] = value
	return m
}

func (gompColl) Unset(key string, m map[string]any) map[string]any {
	delete(m, key)
	return m
}

// data

type gompData struct{}

// gYAML parses YAML (JSON is YAML) as gomplate does: yaml.v3, numbers as
// int or float64, maps with string keys.
func gYAML(fn, s string, out any) error {
	d := goyaml.NewDecoder(strings.NewReader(s))
	for {
		err := d.Decode(out)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: unable to unmarshal %s: %v", fn, clipExpr(s), err)
		}
		if reflect.ValueOf(out).Elem().Len() > 0 {
			return nil
		}
	}
}

func (gompData) JSON(in any) (map[string]any, error) {
	out := map[string]any{}
	if err := gYAML("data.JSON", gToString(in), &out); err != nil {
		return nil, err
	}
	return normalize(out).(map[string]any), nil
}

func (gompData) JSONArray(in any) ([]any, error) {
	out := []any{}
	if err := gYAML("data.JSONArray", gToString(in), &out); err != nil {
		return nil, err
	}
	return normalize(out).([]any), nil
}

func (g gompData) YAML(in any) (map[string]any, error) {
	out := map[string]any{}
	if err := gYAML("data.YAML", gToString(in), &out); err != nil {
		return nil, err
	}
	return normalize(out).(map[string]any), nil
}

func (g gompData) YAMLArray(in any) ([]any, error) {
	out := []any{}
	if err := gYAML("data.YAMLArray", gToString(in), &out); err != nil {
		return nil, err
	}
	return normalize(out).([]any), nil
}

func (gompData) TOML(in any) (any, error) {
	s := gToString(in)
	if err := checkDepth([]byte(s)); err != nil {
		return nil, fmt.Errorf("data.TOML: %w", err)
	}
	out := map[string]any{}
	if _, err := toml.Decode(s, &out); err != nil {
		return nil, fmt.Errorf("data.TOML: %v", err)
	}
	return normalize(out), nil
}

func csvArgs(args []string) (in, delim string, hdr []string) {
	delim = ","
	switch len(args) {
	case 1:
		in = args[0]
	case 2:
		in = args[1]
		switch len(args[0]) {
		case 1:
			delim = args[0]
		case 0:
			hdr = []string{}
		default:
			hdr = strings.Split(args[0], delim)
		}
	case 3:
		delim, hdr, in = args[0], strings.Split(args[1], args[0]), args[2]
	}
	return in, delim, hdr
}

func parseCSV(args []string) ([][]string, []string, error) {
	if len(args) == 0 || len(args) > 3 {
		return nil, nil, fmt.Errorf("csv: wants [delim] [header] input, got %d arguments", len(args))
	}
	in, delim, hdr := csvArgs(args)
	if delim == "" {
		return nil, nil, errors.New("csv: empty delimiter")
	}
	r := csv.NewReader(strings.NewReader(in))
	r.Comma, _ = utf8.DecodeRuneInString(delim)
	records, err := r.ReadAll()
	if err != nil {
		return nil, nil, fmt.Errorf("csv: %v", err)
	}
	if len(records) > 0 {
		switch {
		case hdr == nil:
			hdr, records = records[0], records[1:]
		case len(hdr) == 0:
			hdr = make([]string, len(records[0]))
			for i := range hdr {
				hdr[i] = strings.Repeat(string(rune('A'+i%26)), i/26+1)
			}
		}
	}
	return records, hdr, nil
}

func (gompData) CSV(args ...string) ([][]string, error) {
	records, hdr, err := parseCSV(args)
	if err != nil {
		return nil, err
	}
	return append([][]string{hdr}, records...), nil
}

func (gompData) CSVByRow(args ...string) ([]map[string]string, error) {
	records, hdr, err := parseCSV(args)
	if err != nil {
		return nil, err
	}
	var rows []map[string]string
	for _, rec := range records {
		m := map[string]string{}
		for i, v := range rec {
			if i < len(hdr) {
				m[hdr[i]] = v
			}
		}
		rows = append(rows, m)
	}
	return rows, nil
}

func (gompData) CSVByColumn(args ...string) (map[string][]string, error) {
	records, hdr, err := parseCSV(args)
	if err != nil {
		return nil, err
	}
	cols := map[string][]string{}
	for _, rec := range records {
		for i, v := range rec {
			if i < len(hdr) {
				cols[hdr[i]] = append(cols[hdr[i]], v)
			}
		}
	}
	return cols, nil
}

func (gompData) ToCSV(args ...any) (string, error) {
	delim := ","
	if len(args) == 2 {
		d, ok := args[0].(string)
		if !ok || d == "" {
			return "", fmt.Errorf("toCSV: the delimiter must be a string, got %T", args[0])
		}
		delim, args = d, args[1:]
	}
	if len(args) != 1 {
		return "", errors.New("toCSV: wants [delim] input")
	}
	var rows [][]string
	switch a := args[0].(type) {
	case [][]string:
		rows = a
	default:
		l, err := gSlice(a)
		if err != nil {
			return "", fmt.Errorf("toCSV: the input must be a two-dimensional array, got %T", args[0])
		}
		for _, r := range l {
			cells, err := gSlice(r)
			if err != nil {
				return "", fmt.Errorf("toCSV: the input must be a two-dimensional array, got %T", args[0])
			}
			rows = append(rows, gompConv{}.ToStrings(cells...))
		}
	}
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Comma, _ = utf8.DecodeRuneInString(delim)
	w.UseCRLF = true
	if err := w.WriteAll(rows); err != nil {
		return "", fmt.Errorf("toCSV: %v", err)
	}
	return b.String(), nil
}

// gJSON is gomplate's JSON: keys sorted, no HTML escaping.
func gJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func (gompData) ToJSON(in any) (string, error) {
	b, err := gJSON(in)
	if err != nil {
		return "", fmt.Errorf("toJSON: %v", err)
	}
	return string(b), nil
}

func (gompData) ToJSONPretty(indent string, in any) (string, error) {
	b, err := gJSON(in)
	if err != nil {
		return "", fmt.Errorf("toJSONPretty: %v", err)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", indent); err != nil {
		return "", fmt.Errorf("toJSONPretty: %v", err)
	}
	return out.String(), nil
}

func (gompData) ToYAML(in any) (string, error) {
	var b bytes.Buffer
	enc := goyaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(in); err != nil {
		return "", fmt.Errorf("toYAML: %v", err)
	}
	enc.Close()
	return b.String(), nil
}

func (gompData) CUE(...any) (string, error) {
	return "", errors.New("CUE is not in initbox --funcs gomplate; write the data as JSON or YAML (data.JSON, data.YAML)")
}

func (gompData) ToCUE(...any) (string, error) {
	return "", errors.New("CUE is not in initbox --funcs gomplate; use data.ToJSON or data.ToYAML")
}

func (gompData) ToTOML(in any) (string, error) {
	var b bytes.Buffer
	if err := toml.NewEncoder(&b).Encode(in); err != nil {
		return "", fmt.Errorf("toTOML: %v", err)
	}
	return b.String(), nil
}

// math

type gompMath struct{ budget *budget }

func gIsInt(n any) bool {
	switch t := n.(type) {
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return true
	case string:
		_, err := strconv.ParseInt(t, 0, 64)
		return err == nil
	}
	return false
}

func gIsFloat(n any) bool {
	switch t := n.(type) {
	case float32, float64:
		return true
	case string:
		if _, err := strconv.ParseFloat(t, 64); err != nil {
			return false
		}
		return !gIsInt(t)
	}
	return false
}

func (gompMath) IsInt(n any) bool   { return gIsInt(n) }
func (gompMath) IsFloat(n any) bool { return gIsFloat(n) }
func (gompMath) IsNum(n any) bool   { return gIsInt(n) || gIsFloat(n) }

func (gompMath) Abs(n any) (any, error) {
	f, err := gToFloat64(n)
	if err != nil {
		return nil, fmt.Errorf("math.Abs: expected a number: %w", err)
	}
	if gIsInt(n) {
		return gToInt64(math.Abs(f))
	}
	return math.Abs(f), nil
}

// arith folds n as int64 unless one is a float, as gomplate does.
func arith(fn string, n []any, fi func(a, b int64) int64, ff func(a, b float64) float64) (any, error) {
	if len(n) == 0 {
		return nil, fmt.Errorf("%s: expected number inputs", fn)
	}
	if slices.ContainsFunc(n, gIsFloat) {
		fs, err := convAll(n, gToFloat64)
		if err != nil {
			return nil, fmt.Errorf("%s: expected number inputs: %w", fn, err)
		}
		x := fs[0]
		for _, v := range fs[1:] {
			x = ff(x, v)
		}
		return x, nil
	}
	is, err := convAll(n, gToInt64)
	if err != nil {
		return nil, fmt.Errorf("%s: expected number inputs: %w", fn, err)
	}
	x := is[0]
	for _, v := range is[1:] {
		x = fi(x, v)
	}
	return x, nil
}

func (gompMath) Add(n ...any) (any, error) {
	return arith("math.Add", n, func(a, b int64) int64 { return a + b }, func(a, b float64) float64 { return a + b })
}

func (gompMath) Mul(n ...any) (any, error) {
	return arith("math.Mul", n, func(a, b int64) int64 { return a * b }, func(a, b float64) float64 { return a * b })
}

func (gompMath) Sub(a, b any) (any, error) {
	return arith("math.Sub", []any{a, b}, func(a, b int64) int64 { return a - b }, func(a, b float64) float64 { return a - b })
}

func (gompMath) Div(a, b any) (any, error) {
	x, err1 := gToFloat64(a)
	y, err2 := gToFloat64(b)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("math.Div: expected a number: %w", err)
	}
	if y == 0 {
		return nil, errors.New("math.Div: division by 0")
	}
	return x / y, nil
}

func (gompMath) Rem(a, b any) (any, error) {
	x, err1 := gToInt64(a)
	y, err2 := gToInt64(b)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("math.Rem: expected a number: %w", err)
	}
	if y == 0 {
		return nil, errors.New("math.Rem: division by 0")
	}
	return x % y, nil
}

func (gompMath) Pow(a, b any) (any, error) {
	x, err1 := gToFloat64(a)
	y, err2 := gToFloat64(b)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("math.Pow: expected a number: %w", err)
	}
	r := math.Pow(x, y)
	if gIsFloat(a) {
		return r, nil
	}
	return gToInt64(r)
}

func (gompMath) Seq(n ...any) ([]int64, error) {
	start, end, step := int64(1), int64(0), int64(1)
	is, err := convAll(n, gToInt64)
	if err != nil {
		return nil, fmt.Errorf("math.Seq: expected a number: %w", err)
	}
	switch len(is) {
	case 1:
		end = is[0]
	case 2:
		start, end = is[0], is[1]
	case 3:
		start, end, step = is[0], is[1], is[2]
	default:
		return nil, fmt.Errorf("math.Seq: expected 1, 2, or 3 arguments, got %d", len(n))
	}
	if step == 0 {
		return []int64{}, nil
	}
	if end < start && step > 0 || end > start && step < 0 {
		step = -step
	}
	if (end-start)/step > maxCount {
		return nil, fmt.Errorf("math.Seq %d %d %d: more than %d items; refused", start, end, step, maxCount)
	}
	end -= (end - start) % step
	out := []int64{start}
	for last := start; last != end; {
		last += step
		out = append(out, last)
	}
	return out, nil
}

func (gompMath) Max(a any, b ...any) (any, error) {
	return arith("math.Max", append([]any{a}, b...), func(a, b int64) int64 { return max(a, b) }, math.Max)
}

func (gompMath) Min(a any, b ...any) (any, error) {
	return arith("math.Min", append([]any{a}, b...), func(a, b int64) int64 { return min(a, b) }, math.Min)
}

func floatOp(fn string, n any, op func(float64) float64) (any, error) {
	f, err := gToFloat64(n)
	if err != nil {
		return nil, fmt.Errorf("%s: n must be a number: %w", fn, err)
	}
	return op(f), nil
}

func (gompMath) Ceil(n any) (any, error)  { return floatOp("math.Ceil", n, math.Ceil) }
func (gompMath) Floor(n any) (any, error) { return floatOp("math.Floor", n, math.Floor) }
func (gompMath) Round(n any) (any, error) { return floatOp("math.Round", n, math.Round) }

// base64, path, filepath, regexp, test

type gompBase64 struct{}

func (gompBase64) Encode(in any) string {
	return base64.StdEncoding.EncodeToString([]byte(gToString(in)))
}

func (gompBase64) Decode(in any) (string, error) {
	s := gToString(in)
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		if b, err = base64.URLEncoding.DecodeString(s); err != nil {
			return "", fmt.Errorf("base64.Decode: not base64")
		}
	}
	return string(b), nil
}

func (g gompBase64) DecodeBytes(in any) ([]byte, error) {
	s, err := g.Decode(in)
	return []byte(s), err
}

type gompPath struct{}

func (gompPath) Base(in any) string  { return path.Base(gToString(in)) }
func (gompPath) Dir(in any) string   { return path.Dir(gToString(in)) }
func (gompPath) Ext(in any) string   { return path.Ext(gToString(in)) }
func (gompPath) Clean(in any) string { return path.Clean(gToString(in)) }
func (gompPath) IsAbs(in any) bool   { return path.IsAbs(gToString(in)) }
func (gompPath) Join(elem ...any) string {
	return path.Join(gompConv{}.ToStrings(elem...)...)
}
func (gompPath) Split(in any) []string {
	d, f := path.Split(gToString(in))
	return []string{d, f}
}
func (gompPath) Match(pattern, name any) (bool, error) {
	return path.Match(gToString(pattern), gToString(name))
}

type gompFilepath struct{}

func (gompFilepath) Base(in any) string  { return filepath.Base(gToString(in)) }
func (gompFilepath) Dir(in any) string   { return filepath.Dir(gToString(in)) }
func (gompFilepath) Ext(in any) string   { return filepath.Ext(gToString(in)) }
func (gompFilepath) Clean(in any) string { return filepath.Clean(gToString(in)) }
func (gompFilepath) IsAbs(in any) bool   { return filepath.IsAbs(gToString(in)) }
func (gompFilepath) ToSlash(in any) string {
	return filepath.ToSlash(gToString(in))
}
func (gompFilepath) Join(elem ...any) string {
	return filepath.Join(gompConv{}.ToStrings(elem...)...)
}
func (gompFilepath) Split(in any) []string {
	d, f := filepath.Split(gToString(in))
	return []string{d, f}
}
func (gompFilepath) FromSlash(in any) string  { return filepath.FromSlash(gToString(in)) }
func (gompFilepath) VolumeName(in any) string { return filepath.VolumeName(gToString(in)) }
func (gompFilepath) Match(pattern, name any) (bool, error) {
	return filepath.Match(gToString(pattern), gToString(name))
}

func (gompFilepath) Rel(base, target any) (string, error) {
	return filepath.Rel(gToString(base), gToString(target))
}

type gompRegexp struct{}

func compile(fn string, re any) (*regexp.Regexp, error) {
	r, err := regexp.Compile(gToString(re))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", fn, err)
	}
	return r, nil
}

func (gompRegexp) Match(re, in any) (bool, error) {
	r, err := compile("regexp.Match", re)
	if err != nil {
		return false, err
	}
	return r.MatchString(gToString(in)), nil
}

func (gompRegexp) Find(re, in any) (string, error) {
	r, err := compile("regexp.Find", re)
	if err != nil {
		return "", err
	}
	return r.FindString(gToString(in)), nil
}

// regexpN reads gomplate's re [n] input arguments (n: at most n results).
func regexpN(fn string, args []any) (*regexp.Regexp, int, string, error) {
	n := -1
	switch len(args) {
	case 2:
	case 3:
		var err error
		if n, err = gToInt(args[1]); err != nil {
			return nil, 0, "", fmt.Errorf("%s: %w", fn, err)
		}
	default:
		return nil, 0, "", fmt.Errorf("%s: wants re [n] input", fn)
	}
	r, err := compile(fn, args[0])
	return r, n, gToString(args[len(args)-1]), err
}

func (gompRegexp) FindAll(args ...any) ([]string, error) {
	r, n, in, err := regexpN("regexp.FindAll", args)
	if err != nil {
		return nil, err
	}
	return r.FindAllString(in, n), nil
}

func (gompRegexp) Replace(re, repl, in any) (string, error) {
	r, err := compile("regexp.Replace", re)
	if err != nil {
		return "", err
	}
	return r.ReplaceAllString(gToString(in), gToString(repl)), nil
}

func (gompRegexp) ReplaceLiteral(re, repl, in any) (string, error) {
	r, err := compile("regexp.ReplaceLiteral", re)
	if err != nil {
		return "", err
	}
	return r.ReplaceAllLiteralString(gToString(in), gToString(repl)), nil
}

func (gompRegexp) Split(args ...any) ([]string, error) {
	r, n, in, err := regexpN("regexp.Split", args)
	if err != nil {
		return nil, err
	}
	return r.Split(in, n), nil
}

func (gompRegexp) QuoteMeta(in any) string { return regexp.QuoteMeta(gToString(in)) }

type gompTest struct{}

func (gompTest) Fail(args ...any) (string, error) {
	if len(args) == 0 {
		return "", requiredError("template generation failed")
	}
	return "", requiredError("template generation failed: " + gToString(args[0]))
}

func (gompTest) Assert(args ...any) (string, error) {
	switch len(args) {
	case 1:
		if !gToBool(args[0]) {
			return "", requiredError("assertion failed")
		}
	case 2:
		if !gToBool(args[1]) {
			return "", requiredError("assertion failed: " + gToString(args[0]))
		}
	default:
		return "", errors.New("assert: wants [message] value")
	}
	return "", nil
}

func (gompTest) Required(args ...any) (any, error) {
	msg, v := "can not render template: a required value was not set", any(nil)
	switch len(args) {
	case 1:
		v = args[0]
	case 2:
		msg, v = gToString(args[0]), args[1]
	default:
		return nil, errors.New("required: wants [message] value")
	}
	if v == nil {
		return nil, requiredError(msg)
	}
	if s, ok := v.(string); ok && strings.TrimSpace(s) == "" {
		return nil, requiredError(msg)
	}
	return v, nil
}

func (gompTest) Ternary(t, f, cond any) any {
	if truth(cond) {
		return t
	}
	return f
}

func (gompTest) Kind(v any) string {
	r := reflect.ValueOf(v)
	if !r.IsValid() {
		return "invalid"
	}
	switch k := r.Kind(); k {
	case reflect.Slice:
		return "slice"
	default:
		return k.String()
	}
}

func (g gompTest) IsKind(kind string, v any) bool {
	k := g.Kind(v)
	switch kind {
	case "number":
		return strings.HasPrefix(k, "int") || strings.HasPrefix(k, "uint") || strings.HasPrefix(k, "float")
	}
	return k == kind
}
