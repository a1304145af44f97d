package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/go-viper/mapstructure/v2"
)

// decoderConfig is how viper decodes the settings into Config: exactly
// (unknown keys are errors), without weak typing, with durations from
// strings like "1s". The services, the bulk of a large file, are decoded
// by decodeServices with the same rules.
func decoderConfig(dc *mapstructure.DecoderConfig) {
	dc.WeaklyTypedInput = false
	dc.DecodeHook = mapstructure.ComposeDecodeHookFunc(durationHook, mapstructure.StringToTimeDurationHookFunc())
}

var (
	durationType = reflect.TypeOf(time.Duration(0))
)

// durationHook refuses a bare number where a duration goes: YAML reads
// `interval: 5` as the integer 5, which would be 5ns.
func durationHook(_, to reflect.Type, data any) (any, error) {
	if to == durationType {
		if msg := bareNumber(data); msg != "" {
			return nil, errors.New(msg)
		}
	}
	return data, nil
}

func bareNumber(data any) string {
	switch data.(type) {
	case int, int64, uint64, float64:
		return fmt.Sprintf("%v has no unit: write it like %vs or %vms", data, data, data)
	}
	return ""
}

// keyError is a problem with one key of a map decoded by hand; key is a
// path relative to the value decoded ("healthcheck.rise").
type keyError struct {
	key string
	err error
}

func (e *keyError) Error() string { return e.key + ": " + e.err.Error() }

// decodeServices decodes the services list with decodeValue instead of
// mapstructure, in parallel: a 1,000-service file has 10,000 backends, and
// mapstructure's per-field reflection was most of the time a reload took.
// The rules are the same: exact keys, no weak typing, durations from
// strings. The problems travel with each service (decodeErrs) and its
// validation reports them under its path.
// An item reuse holds is taken as validated before, not decoded.
func decodeServices(list []any, reuse []*validated) []Service {
	out := make([]Service, len(list))
	parallel(len(list), func(i int) {
		s := &out[i]
		if reuse != nil && reuse[i] != nil {
			*s = reuse[i].svc
			return
		}
		if _, ok := list[i].(map[string]any); !ok {
			s.decodeErrs = []*keyError{{"", fmt.Errorf("expected a mapping, got %T %v", list[i], list[i])}}
			return
		}
		s.decodeErrs = decodeValue("", list[i], reflect.ValueOf(s).Elem())
	})
	return out
}

// fields maps a struct type's mapstructure keys to field indexes.
var fields sync.Map // reflect.Type -> map[string]int

func fieldsOf(t reflect.Type) map[string]int {
	if m, ok := fields.Load(t); ok {
		return m.(map[string]int)
	}
	m := map[string]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
		if f.IsExported() && name != "" && name != "-" {
			m[name] = i
		}
	}
	fields.Store(t, m)
	return m
}

// decodeValue decodes the YAML value data into dst, returning the
// problems by key path.
func decodeValue(path string, data any, dst reflect.Value) []*keyError {
	fail := func(format string, args ...any) []*keyError {
		return []*keyError{{path, fmt.Errorf(format, args...)}}
	}
	if data == nil {
		return nil
	}
	t := dst.Type()
	if t == durationType {
		if msg := bareNumber(data); msg != "" {
			return fail("%s", msg)
		}
		s, ok := data.(string)
		if !ok {
			return fail("expected a duration like 1s, got %T %v", data, data)
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return fail("%v", err)
		}
		dst.SetInt(int64(d))
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		v := reflect.New(t.Elem())
		errs := decodeValue(path, data, v.Elem())
		dst.Set(v)
		return errs
	case reflect.String:
		s, ok := data.(string)
		if !ok {
			return fail("expected a string, got %T %v", data, data)
		}
		dst.SetString(s)
	case reflect.Bool:
		b, ok := data.(bool)
		if !ok {
			return fail("expected true or false, got %T %v", data, data)
		}
		dst.SetBool(b)
	case reflect.Int:
		n, ok := data.(int)
		if !ok {
			return fail("expected an integer, got %T %v", data, data)
		}
		dst.SetInt(int64(n))
	case reflect.Uint32:
		n, ok := data.(int)
		if !ok || n < 0 || n > 1<<32-1 {
			return fail("expected an integer 0-4294967295, got %T %v", data, data)
		}
		dst.SetUint(uint64(n))
	case reflect.Interface:
		dst.Set(reflect.ValueOf(data))
	case reflect.Slice:
		items, ok := data.([]any)
		if !ok {
			return fail("expected a list, got %T %v", data, data)
		}
		s := reflect.MakeSlice(t, len(items), len(items))
		var errs []*keyError
		for i, it := range items {
			errs = append(errs, decodeValue(fmt.Sprintf("%s[%d]", path, i), it, s.Index(i))...)
		}
		dst.Set(s)
		return errs
	case reflect.Map:
		m, ok := data.(map[string]any)
		if !ok || t.Key().Kind() != reflect.String {
			return fail("expected a mapping, got %T %v", data, data)
		}
		out := reflect.MakeMapWithSize(t, len(m))
		var errs []*keyError
		for k, v := range m {
			e := reflect.New(t.Elem()).Elem()
			errs = append(errs, decodeValue(joinPath(path, k), v, e)...)
			out.SetMapIndex(reflect.ValueOf(k), e)
		}
		dst.Set(out)
		return errs
	case reflect.Struct:
		m, ok := data.(map[string]any)
		if !ok {
			return fail("expected a mapping, got %T %v", data, data)
		}
		idx := fieldsOf(t)
		var errs []*keyError
		for k, v := range m {
			i, ok := idx[k]
			if !ok {
				errs = append(errs, &keyError{joinPath(path, k), errors.New("unknown key")})
				continue
			}
			errs = append(errs, decodeValue(joinPath(path, k), v, dst.Field(i))...)
		}
		return errs
	default:
		return fail("cannot decode into %v", t)
	}
	return nil
}
