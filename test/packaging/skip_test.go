package packaging

import (
	"testing"

	"github.com/seesawd/seesawd/internal/testenv"
)

// skip skips, or fails when integration tests are required (CI).
func skip(t *testing.T, format string, args ...any) {
	t.Helper()
	testenv.Skip(t, format, args...)
}
