package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"

	"github.com/seesawd/seesawd/pkg/ipvs"
)

// stateFile is what the engine remembers across restarts, in a small JSON
// file (under /run by default: it lives as long as the kernel's IPVS table
// does, until reboot).
type stateFile struct {
	Version int `json:"version"`
	// Owned are the services this daemon created or adopted. One of them
	// found in the kernel but no longer configured is drained and removed;
	// a service not listed here is never touched.
	Owned []ipvs.ServiceKey `json:"owned"`
	// Marks are the fwmarks of through_vip check services.
	Marks []markEntry `json:"marks,omitempty"`
	// Drains are backends drained at run time, kept across reloads and restarts.
	Drains []drainEntry `json:"drains,omitempty"`
	// NodeDrained withdraws every announcement (Engine.DrainNode).
	NodeDrained bool `json:"node_drained,omitempty"`
}

type markEntry struct {
	Service string         `json:"service"`
	Backend netip.AddrPort `json:"backend"`
	Mark    uint32         `json:"mark"`
}

type drainEntry struct {
	Service string         `json:"service"`
	Backend netip.AddrPort `json:"backend"`
}

const stateVersion = 1

// loadState reads the state file. A missing file is an empty state; an
// unreadable or corrupt one is an error the caller logs before going on
// with an empty state (it then adopts only configured services).
func loadState(path string) (stateFile, error) {
	var sf stateFile
	if path == "" {
		return sf, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return sf, nil
	}
	if err != nil {
		return sf, fmt.Errorf("engine: state file: %w", err)
	}
	if err := json.Unmarshal(b, &sf); err != nil {
		return stateFile{}, fmt.Errorf("engine: state file %s: %w", path, err)
	}
	if sf.Version != stateVersion {
		return stateFile{}, fmt.Errorf("engine: state file %s: version %d, want %d", path, sf.Version, stateVersion)
	}
	return sf, nil
}

// saveState writes the state file atomically (a temporary file renamed over it).
func saveState(path string, sf stateFile) error {
	if path == "" {
		return nil
	}
	sf.Version = stateVersion
	b, err := json.MarshalIndent(sf, "", "  ")
	if err != nil {
		return fmt.Errorf("engine: state file: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("engine: state file: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".state-*")
	if err != nil {
		return fmt.Errorf("engine: state file: %w", err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("engine: state file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("engine: state file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("engine: state file: %w", err)
	}
	return nil
}

// snapshotState captures what st must remember.
func snapshotState(st *state) stateFile {
	var sf stateFile
	for k := range st.owned {
		sf.Owned = append(sf.Owned, k)
	}
	slices.SortFunc(sf.Owned, compareServiceKeys)
	for k, m := range st.marks {
		sf.Marks = append(sf.Marks, markEntry{Service: k.Service, Backend: k.Addr, Mark: m})
	}
	slices.SortFunc(sf.Marks, func(a, b markEntry) int { return cmpInt(a.Mark, b.Mark) })
	for k, on := range st.drains {
		if on {
			sf.Drains = append(sf.Drains, drainEntry{Service: k.Service, Backend: k.Addr})
		}
	}
	slices.SortFunc(sf.Drains, func(a, b drainEntry) int {
		if a.Service != b.Service {
			if a.Service < b.Service {
				return -1
			}
			return 1
		}
		return a.Backend.Compare(b.Backend)
	})
	return sf
}
