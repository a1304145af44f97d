package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The /proc and perf readers, apart from the files, so they are tested
// anywhere.

func parseStat(s string) (utime, stime int64, err error) {
	// The command name, in parentheses, may hold spaces.
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, errors.New("malformed /proc/PID/stat")
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, 0, errors.New("short /proc/PID/stat")
	}
	if utime, err = strconv.ParseInt(f[11], 10, 64); err == nil {
		stime, err = strconv.ParseInt(f[12], 10, 64)
	}
	return utime, stime, err
}

// parseProcStat sums the first "cpu" line's busy fields: user, nice,
// system, irq, softirq and steal (guest time is already in user).
func parseProcStat(s string) (int64, error) {
	line, _, _ := strings.Cut(s, "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, fmt.Errorf("malformed /proc/stat: %q", line)
	}
	var busy int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		v, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: %w", err)
		}
		busy += v
	}
	return busy, nil
}

// snmpField finds a counter in /proc/net/snmp's header/value line pairs.
func snmpField(s, proto, name string) (uint64, error) {
	var head []string
	for line := range strings.Lines(s) {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != proto {
			continue
		}
		if head == nil {
			head = f
			continue
		}
		for i, h := range head {
			if h == name && i < len(f) {
				return strconv.ParseUint(f[i], 10, 64)
			}
		}
		break
	}
	return 0, fmt.Errorf("no %s %s in /proc/net/snmp", proto, name)
}

// filteredSuffix marks the second count of an event perf counted twice,
// the second time with a filter.
const filteredSuffix = "#filtered"

// parsePerfCSV reads perf stat -x, output: value,unit,event,run time in
// ns,... per line. perf enables its counters one after another, hundreds
// of them per thread for the system-call table, so in a slow guest the
// last runs noticeably shorter than the first: each count is scaled to
// the longest run time, as if all had counted over the same window.
func parsePerfCSV(s string) (map[string]float64, error) {
	counts := map[string]float64{}
	runs := map[string]float64{}
	longest := 0.0
	for line := range strings.Lines(s) {
		f := strings.Split(strings.TrimSpace(line), ",")
		if len(f) < 3 || strings.HasPrefix(f[0], "#") {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue // <not counted>, <not supported>
		}
		name := f[2]
		if _, seen := counts[name]; seen {
			// The same event again, with a filter (see countSyscalls).
			name += filteredSuffix
		}
		counts[name] = v
		if len(f) > 3 {
			if rt, err := strconv.ParseFloat(f[3], 64); err == nil && rt > 0 {
				runs[name] = rt
				longest = max(longest, rt)
			}
		}
	}
	for name, rt := range runs {
		counts[name] *= longest / rt
	}
	if len(counts) == 0 {
		return nil, fmt.Errorf("perf counted nothing: %q", s)
	}
	return counts, nil
}
