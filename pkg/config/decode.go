package config

import (
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/go-viper/mapstructure/v2"
)

// decoderConfig is how viper decodes the settings into Config: exactly
// (unknown keys are errors), without weak typing, with durations from
// strings like "1s", and with the hot path of large files decoded by hand.
func decoderConfig(dc *mapstructure.DecoderConfig) {
	dc.WeaklyTypedInput = false
	dc.DecodeHook = mapstructure.ComposeDecodeHookFunc(backendHook, durationHook, mapstructure.StringToTimeDurationHookFunc())
}

var (
	durationType = reflect.TypeOf(time.Duration(0))
	backendType  = reflect.TypeOf(Backend{})
)

// durationHook refuses a bare number where a duration goes: YAML reads
// `interval: 5` as the integer 5, which would be 5ns.
func durationHook(_, to reflect.Type, data any) (any, error) {
	if to == durationType {
		switch data.(type) {
		case int, int64, uint64, float64:
			return nil, fmt.Errorf("%v has no unit: write it like %vs or %vms", data, data, data)
		}
	}
	return data, nil
}

// keyError is a problem with one key of a map decoded by hand.
type keyError struct {
	key string
	err error
}

func (e *keyError) Error() string { return e.key + ": " + e.err.Error() }
func (e *keyError) Unwrap() error { return e.err }

// backendHook decodes a backend by hand. A 1,000-service file has 10,000
// backends, and mapstructure's reflection over each of their fields was
// most of the time a reload took; the result is the same, unknown keys and
// wrong types included.
func backendHook(_, to reflect.Type, data any) (any, error) {
	if to != backendType {
		return data, nil
	}
	m, ok := data.(map[string]any)
	if !ok {
		return data, nil // not a mapping: mapstructure says so
	}
	var b Backend
	var errs []*keyError
	bad := func(k string, err error) { errs = append(errs, &keyError{k, err}) }
	for k, v := range m {
		var err error
		switch k {
		case "address":
			b.Address, err = asString(v)
		case "port":
			b.Port, err = asInt(v)
		case "weight":
			var w int
			if w, err = asInt(v); err == nil {
				b.Weight = &w
			}
		case "drain":
			b.Drain, err = asBool(v)
		case "upper_threshold":
			b.UpperThreshold, err = asInt(v)
		case "lower_threshold":
			b.LowerThreshold, err = asInt(v)
		case "healthcheck":
			var hc HealthCheck
			dec, derr := mapstructure.NewDecoder(&mapstructure.DecoderConfig{Result: &hc, ErrorUnused: true,
				WeaklyTypedInput: false, DecodeHook: mapstructure.ComposeDecodeHookFunc(durationHook, mapstructure.StringToTimeDurationHookFunc())})
			if derr == nil {
				derr = dec.Decode(v)
			}
			if derr != nil {
				for _, p := range decodeProblems(derr) {
					bad(joinPath(k, p.Path), errors.New(p.Msg))
				}
				continue
			}
			b.HealthCheck = &hc
		default:
			err = errors.New("unknown key")
		}
		if err != nil {
			bad(k, err)
		}
	}
	// The problems travel with the backend, whose validation reports them
	// under its path (a hook does not know where in the file it is).
	b.decodeErrs = errs
	return b, nil
}

func asString(v any) (string, error) {
	if s, ok := v.(string); ok {
		return s, nil
	}
	return "", fmt.Errorf("expected a string, got %T %v", v, v)
}

func asInt(v any) (int, error) {
	if n, ok := v.(int); ok {
		return n, nil
	}
	return 0, fmt.Errorf("expected an integer, got %T %v", v, v)
}

func asBool(v any) (bool, error) {
	if b, ok := v.(bool); ok {
		return b, nil
	}
	return false, fmt.Errorf("expected true or false, got %T %v", v, v)
}
