package main

import (
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// ANSI colours of states.
const (
	green  = "\x1b[32m"
	yellow = "\x1b[33m"
	red    = "\x1b[31m"
	reset  = "\x1b[0m"
)

// cell is one table cell, coloured on a terminal.
type cell struct {
	text  string
	color string
}

// txt is a plain cell.
func txt(s string) cell { return cell{text: s} }

// cf is a plain cell of formatted text.
func cf(format string, args ...any) cell { return cell{text: fmt.Sprintf(format, args...)} }

// table is rows of cells printed in aligned columns. It pads by the
// visible text, so colours never break the alignment (text/tabwriter
// would count their escape bytes).
type table struct{ rows [][]cell }

func (t *table) row(cells ...cell) { t.rows = append(t.rows, cells) }

func (t *table) write(w io.Writer, color bool) {
	var widths []int
	for _, r := range t.rows {
		for i, cl := range r {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(cl.text))
		}
	}
	var b strings.Builder
	for _, r := range t.rows {
		for i, cl := range r {
			if color && cl.color != "" {
				b.WriteString(cl.color + cl.text + reset)
			} else {
				b.WriteString(cl.text)
			}
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(cl.text)+2))
			}
		}
		b.WriteByte('\n')
	}
	io.WriteString(w, b.String())
}

// state returns a cell for a state, coloured by what it means: green for
// serving, red for failing, yellow for in between.
func state(s string) cell {
	switch s {
	case "up", "master", "ok", "yes":
		return cell{s, green}
	case "down", "fault", "no", "absent":
		return cell{s, red}
	case "pending", "unknown", "initialize", "runtime", "config", "leaving", "starting":
		return cell{s, yellow}
	}
	return cell{text: s}
}

// human writes a duration the way a person reads it at a glance:
// "850µs", "1.2ms", "12s", "3m12s", "2h05m", "3d04h".
func human(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d/time.Microsecond)
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%dms", d/time.Millisecond)
	case d < 10*time.Second:
		return fmt.Sprintf("%.1fs", float64(d)/float64(time.Second))
	case d < time.Minute:
		return fmt.Sprintf("%ds", d/time.Second)
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", d/time.Minute, d%time.Minute/time.Second)
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%02dm", d/time.Hour, d%time.Hour/time.Minute)
	}
	return fmt.Sprintf("%dd%02dh", d/(24*time.Hour), d%(24*time.Hour)/time.Hour)
}

// since returns how long ago t was at now in whole seconds ("12s",
// "3m12s"), "-" for a zero t.
func since(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t).Truncate(time.Second)
	if d < time.Minute {
		return fmt.Sprintf("%ds", max(d, 0)/time.Second)
	}
	return human(d)
}

// dash returns s, or "-" when empty.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
