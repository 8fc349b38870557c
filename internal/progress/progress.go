package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// Mode says how progress is shown.
type Mode int

const (
	// Auto is TTY when the writer is a terminal, Lines otherwise.
	Auto Mode = iota
	// TTY redraws one line in place, at most ten times a second.
	TTY
	// Lines writes a plain line every Options.Every, for logs and CI.
	Lines
	// Quiet shows no progress; Logf still writes.
	Quiet
)

const (
	// redraw bounds a terminal's redraws: more than ten a second is flicker, not news.
	redraw = 100 * time.Millisecond
	// every is how often Lines writes: a log wants news, not a line per photo.
	every    = 5 * time.Second
	barWidth = 24
)

// Options tell a Bar what it counts and how to show it.
type Options struct {
	// Mode is how progress is shown (Auto by default).
	Mode Mode
	// Total is how many units there are; 0 makes a spinner, for a wait of unknown length.
	Total int
	// Unit names what is counted, plural ("photos").
	Unit string
	// Label says what is being done ("enrolling", "waiting for the index to load").
	Label string
	// Every is how often Lines writes (5 s by default).
	Every time.Duration
}

// Bar shows the progress of one command until Done. Its methods are safe for concurrent use.
type Bar struct {
	w     io.Writer
	opts  Options
	mode  Mode
	start time.Time
	now   func() time.Time

	mu      sync.Mutex
	count   int
	skipped int // of count, units that took no work: no part of the rate
	frame   int
	drawn   bool // a TTY line is on the screen, to be cleared before other output
	stopped bool
	stop    chan struct{}
	done    chan struct{}
}

// New starts showing progress on w (stderr, normally): it draws in its own goroutine until
// Done, so that a spinner turns and an ETA counts down between calls of Add.
func New(w io.Writer, opts Options) *Bar {
	b := newBar(w, opts, time.Now)
	if b.mode == Quiet {
		close(b.done)
		return b
	}
	interval := redraw
	if b.mode == Lines {
		interval = b.opts.Every
	}
	go b.loop(interval)
	return b
}

func newBar(w io.Writer, opts Options, now func() time.Time) *Bar {
	if opts.Every <= 0 {
		opts.Every = every
	}
	mode := opts.Mode
	if mode == Auto {
		mode = Lines
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			mode = TTY
		}
	}
	return &Bar{w: w, opts: opts, mode: mode, start: now(), now: now, stop: make(chan struct{}), done: make(chan struct{})}
}

func (b *Bar) loop(interval time.Duration) {
	defer close(b.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			b.mu.Lock()
			b.draw()
			b.mu.Unlock()
		}
	}
}

// Add counts n more units done.
func (b *Bar) Add(n int) {
	b.mu.Lock()
	b.count += n
	b.mu.Unlock()
}

// Skip counts n more units done that took no work (found done already): they move the bar
// but not the rate, so that the ETA of the rest stays honest.
func (b *Bar) Skip(n int) {
	b.mu.Lock()
	b.count += n
	b.skipped += n
	b.mu.Unlock()
}

// SetLabel changes what the bar says is being done.
func (b *Bar) SetLabel(label string) {
	b.mu.Lock()
	b.opts.Label = label
	b.mu.Unlock()
}

// Logf writes a line of its own, in every mode (quiet too: it is for what went wrong),
// without tearing the bar: on a terminal the bar is cleared first and redrawn after.
func (b *Bar) Logf(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.clear()
	fmt.Fprintf(b.w, strings.TrimSuffix(format, "\n")+"\n", args...)
	if b.mode == TTY && !b.stopped {
		b.draw()
	}
}

// Done stops the drawing and leaves the final count: on a terminal the bar's last state on
// its own line, in a log one last line; a spinner's line is cleared. It may be called twice.
func (b *Bar) Done() {
	b.mu.Lock()
	if b.stopped {
		b.mu.Unlock()
		return
	}
	b.stopped = true
	close(b.stop)
	b.mu.Unlock()
	<-b.done

	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.mode == Quiet:
	case b.opts.Total == 0:
		b.clear()
	case b.mode == TTY:
		b.draw()
		fmt.Fprintln(b.w)
		b.drawn = false
	default:
		fmt.Fprintln(b.w, b.line(b.now()))
	}
}

// draw writes the current state: in place on a terminal, as a new line otherwise.
func (b *Bar) draw() {
	switch b.mode {
	case TTY:
		fmt.Fprint(b.w, "\r"+b.line(b.now())+"\x1b[K")
		b.drawn = true
	case Lines:
		fmt.Fprintln(b.w, b.line(b.now()))
	}
	b.frame++
}

// clear removes the bar from a terminal's line, so that other output starts at its start.
func (b *Bar) clear() {
	if b.drawn {
		fmt.Fprint(b.w, "\r\x1b[K")
		b.drawn = false
	}
}

// line is the state as text, without a line end:
//
//	enrolling [=========>              ] 12/40 photos 3.1/s ETA 8s   (TTY)
//	enrolling: 12/40 photos (30%) 3.1/s ETA 8s                          (Lines)
//	waiting for the index to load | 3s                                 (a spinner)
func (b *Bar) line(now time.Time) string {
	elapsed := now.Sub(b.start)
	var sb strings.Builder
	label := b.opts.Label
	if b.opts.Total == 0 {
		if label == "" {
			label = "working"
		}
		if b.mode == TTY {
			fmt.Fprintf(&sb, "%s %c %s", label, `|/-\`[b.frame%4], duration(elapsed))
		} else {
			fmt.Fprintf(&sb, "%s... %s", label, duration(elapsed))
		}
		return sb.String()
	}
	if label != "" {
		sb.WriteString(label)
		if b.mode == TTY {
			sb.WriteByte(' ')
		} else {
			sb.WriteString(": ")
		}
	}
	count, total := b.count, b.opts.Total
	if b.mode == TTY {
		sb.WriteString(bar(count, total))
		sb.WriteByte(' ')
	}
	fmt.Fprintf(&sb, "%d/%d", count, total)
	if b.opts.Unit != "" {
		sb.WriteString(" " + b.opts.Unit)
	}
	if b.mode != TTY {
		fmt.Fprintf(&sb, " (%d%%)", 100*min(count, total)/total)
	}
	if worked, secs := count-b.skipped, elapsed.Seconds(); worked > 0 && secs > 0 {
		rate := float64(worked) / secs
		fmt.Fprintf(&sb, " %.1f/s", rate)
		if count < total {
			fmt.Fprintf(&sb, " ETA %s", duration(time.Duration(float64(total-count)/rate*float64(time.Second))))
		}
	}
	if count >= total {
		fmt.Fprintf(&sb, " in %s", duration(elapsed))
	}
	return sb.String()
}

// bar is [=====>    ]: '=' for what is done, '>' at its head until the end.
func bar(count, total int) string {
	filled := min(barWidth, barWidth*max(0, count)/total)
	head := ""
	if filled < barWidth {
		head = ">"
	}
	if filled == 0 {
		return "[" + strings.Repeat(" ", barWidth) + "]"
	}
	return "[" + strings.Repeat("=", filled-len(head)) + head + strings.Repeat(" ", barWidth-filled) + "]"
}

// duration is short and whole: 8s, 1m05s, 2h03m.
func duration(d time.Duration) string {
	s := int(d.Round(time.Second).Seconds())
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	default:
		return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
	}
}
