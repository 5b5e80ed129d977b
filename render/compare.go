package render

import (
	"errors"
	"fmt"
	"reflect"
	"text/template"
)

// Comparisons that take numbers as numbers, whatever their Go type. initbox
// keeps a values file's integers as integers where Helm makes every number
// a float64, so a chart written for Helm compares with floats (gt
// .Values.replicas 1.0) and one written for initbox with integers (eq
// .Values.port 80): text/template's own eq, lt, … refuse to compare an
// int64 with a float64, so both would fail somewhere. These accept both;
// everything else (strings, bools, nil, mixing kinds) is as text/template
// has it.

var errBadComparison = errors.New("incompatible types for comparison")

type kind int

const (
	invalidKind kind = iota
	boolKind
	numberKind
	stringKind
	complexKind
)

func basic(v reflect.Value) kind {
	switch v.Kind() {
	case reflect.Bool:
		return boolKind
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		return numberKind
	case reflect.String:
		return stringKind
	case reflect.Complex64, reflect.Complex128:
		return complexKind
	}
	return invalidKind
}

// compareNumbers returns -1, 0 or 1; integers are compared exactly.
func compareNumbers(a, b reflect.Value) int {
	isInt := func(v reflect.Value) bool { return v.CanInt() }
	isUint := func(v reflect.Value) bool { return v.CanUint() }
	switch {
	case isInt(a) && isInt(b):
		return cmp3(a.Int() < b.Int(), a.Int() == b.Int())
	case isUint(a) && isUint(b):
		return cmp3(a.Uint() < b.Uint(), a.Uint() == b.Uint())
	case isInt(a) && isUint(b):
		if a.Int() < 0 {
			return -1
		}
		return cmp3(uint64(a.Int()) < b.Uint(), uint64(a.Int()) == b.Uint())
	case isUint(a) && isInt(b):
		return -compareNumbers(b, a)
	}
	fa, fb := toFloat(a), toFloat(b)
	return cmp3(fa < fb, fa == fb)
}

func cmp3(less, equal bool) int {
	switch {
	case less:
		return -1
	case equal:
		return 0
	}
	return 1
}

func toFloat(v reflect.Value) float64 {
	switch {
	case v.CanInt():
		return float64(v.Int())
	case v.CanUint():
		return float64(v.Uint())
	}
	return v.Float()
}

func indirectIface(v reflect.Value) reflect.Value {
	for v.IsValid() && v.Kind() == reflect.Interface {
		v = v.Elem()
	}
	return v
}

// equal is text/template's eq for two values, with numbers of any type
// comparable.
func equal(x, y any) (bool, error) {
	a, b := indirectIface(reflect.ValueOf(x)), indirectIface(reflect.ValueOf(y))
	if !a.IsValid() || !b.IsValid() {
		// nil equals only nil (a nil pointer, map, slice, … too).
		isNil := func(v reflect.Value) bool {
			if !v.IsValid() {
				return true
			}
			switch v.Kind() {
			case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Chan, reflect.Func, reflect.Interface:
				return v.IsNil()
			}
			return false
		}
		return isNil(a) && isNil(b), nil
	}
	ka, kb := basic(a), basic(b)
	switch {
	case ka == numberKind && kb == numberKind:
		return compareNumbers(a, b) == 0, nil
	case ka != invalidKind && ka == kb:
		switch ka {
		case boolKind:
			return a.Bool() == b.Bool(), nil
		case stringKind:
			return a.String() == b.String(), nil
		case complexKind:
			return a.Complex() == b.Complex(), nil
		}
	case ka == invalidKind && kb == invalidKind:
		if a.Type() != b.Type() {
			return false, errBadComparison
		}
		if !a.Type().Comparable() {
			return false, fmt.Errorf("non-comparable type %s", a.Type())
		}
		return a.Equal(b), nil
	}
	return false, errBadComparison
}

func less(x, y any) (bool, error) {
	a, b := indirectIface(reflect.ValueOf(x)), indirectIface(reflect.ValueOf(y))
	ka, kb := basic(a), basic(b)
	switch {
	case ka == numberKind && kb == numberKind:
		return compareNumbers(a, b) < 0, nil
	case ka == stringKind && kb == stringKind:
		return a.String() < b.String(), nil
	case ka == invalidKind || kb == invalidKind || ka == boolKind || ka == complexKind:
		return false, fmt.Errorf("invalid type for comparison")
	}
	return false, errBadComparison
}

// comparisons overrides text/template's builtins of the same names.
func comparisons(f template.FuncMap) {
	f["eq"] = func(a any, bs ...any) (bool, error) {
		if len(bs) == 0 {
			return false, errors.New("missing argument for comparison")
		}
		for _, b := range bs {
			if ok, err := equal(a, b); err != nil || ok {
				return ok, err
			}
		}
		return false, nil
	}
	f["ne"] = func(a, b any) (bool, error) {
		ok, err := equal(a, b)
		return !ok, err
	}
	f["lt"] = less
	f["le"] = func(a, b any) (bool, error) {
		if ok, err := less(a, b); err != nil || ok {
			return ok, err
		}
		return equal(a, b)
	}
	f["gt"] = func(a, b any) (bool, error) {
		ok, err := less(b, a)
		return ok, err
	}
	f["ge"] = func(a, b any) (bool, error) {
		if ok, err := less(b, a); err != nil || ok {
			return ok, err
		}
		return equal(a, b)
	}
}
