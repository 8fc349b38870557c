package progress

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// clock is a settable time for rendering at chosen moments.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestLine(t *testing.T) {
	for _, tc := range []struct {
		name           string
		mode           Mode
		opts           Options
		skipped, count int
		elapsed        time.Duration
		want           string
	}{
		{"tty, started", TTY, Options{Total: 40, Unit: "photos"}, 0, 0, 0,
			"[                        ] 0/40 photos"},
		{"tty, under way", TTY, Options{Total: 40, Unit: "photos", Label: "enrolling"}, 0, 12, 4 * time.Second,
			"enrolling [======>                 ] 12/40 photos 3.0/s ETA 9s"},
		{"tty, done", TTY, Options{Total: 40, Unit: "photos"}, 0, 40, 4 * time.Second,
			"[========================] 40/40 photos 10.0/s in 4s"},
		{"tty, a long way to go", TTY, Options{Total: 5000, Unit: "photos"}, 0, 10, 5 * time.Second,
			"[                        ] 10/5000 photos 2.0/s ETA 41m35s"},
		{"lines, under way", Lines, Options{Total: 40, Unit: "photos", Label: "enrolling"}, 0, 12, 4 * time.Second,
			"enrolling: 12/40 photos (30%) 3.0/s ETA 9s"},
		{"lines, no unit", Lines, Options{Total: 3}, 0, 1, time.Second,
			"1/3 (33%) 1.0/s ETA 2s"},
		{"tty, some there already", TTY, Options{Total: 40, Unit: "photos"}, 30, 35, 5 * time.Second,
			"[====================>   ] 35/40 photos 1.0/s ETA 5s"},
		{"lines, all there already", Lines, Options{Total: 40, Unit: "photos"}, 40, 40, time.Second,
			"40/40 photos (100%) in 1s"},
		{"tty spinner", TTY, Options{Label: "waiting for the index to load"}, 0, 0, 3 * time.Second,
			"waiting for the index to load | 3s"},
		{"lines spinner", Lines, Options{Label: "searching"}, 0, 0, 75 * time.Second,
			"searching... 1m15s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &clock{t: time.Unix(1000, 0)}
			tc.opts.Mode = tc.mode
			b := newBar(&bytes.Buffer{}, tc.opts, c.now)
			b.Skip(tc.skipped)
			b.Add(tc.count - tc.skipped)
			c.t = c.t.Add(tc.elapsed)
			if got := b.line(c.now()); got != tc.want {
				t.Fatalf("line:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 1400 * time.Millisecond: "1s", 59 * time.Second: "59s", 65 * time.Second: "1m05s",
		3599 * time.Second: "59m59s", 7380 * time.Second: "2h03m",
	} {
		if got := duration(d); got != want {
			t.Errorf("duration(%s) = %q, want %q", d, got, want)
		}
	}
}

// TestTTYDrawsInPlace: every draw returns to the line's start and clears what is left of
// it, a Logf line lands on a clean line with the bar drawn again after it, and Done leaves
// the last state on a line of its own.
func TestTTYDrawsInPlace(t *testing.T) {
	var buf bytes.Buffer
	c := &clock{t: time.Unix(1000, 0)}
	b := newBar(&buf, Options{Mode: TTY, Total: 2, Unit: "photos"}, c.now)
	close(b.done) // no drawing goroutine: draws happen when the test says
	b.Add(1)
	c.t = c.t.Add(time.Second)
	b.draw()
	b.Logf("alice/2.jpg: %s", "no face")
	b.Add(1)
	b.Done()
	want := "\r[===========>            ] 1/2 photos 1.0/s ETA 1s\x1b[K" +
		"\r\x1b[Kalice/2.jpg: no face\n" +
		"\r[===========>            ] 1/2 photos 1.0/s ETA 1s\x1b[K" +
		"\r[========================] 2/2 photos 2.0/s in 1s\x1b[K\n"
	if got := buf.String(); got != want {
		t.Fatalf("output:\n got %q\nwant %q", got, want)
	}
}

// TestSpinnerClearsItsLine: a spinner leaves nothing behind on a terminal.
func TestSpinnerClearsItsLine(t *testing.T) {
	var buf bytes.Buffer
	b := newBar(&buf, Options{Mode: TTY, Label: "searching"}, time.Now)
	close(b.done)
	b.draw()
	b.draw()
	b.Done()
	if got, want := buf.String(), "\rsearching | 0s\x1b[K\rsearching / 0s\x1b[K\r\x1b[K"; got != want {
		t.Fatalf("output:\n got %q\nwant %q", got, want)
	}
}

// TestModes runs real bars for a while: a terminal's is redrawn at most ten times a second
// however often Add is called, a log gets a line every Every and one at the end, and a quiet
// bar writes nothing but Logf lines.
func TestModes(t *testing.T) {
	const run = 550 * time.Millisecond
	for _, tc := range []struct {
		name               string
		opts               Options
		minDraws, maxDraws int
	}{
		// Ticks at 100 ms: 5 in 550 ms, plus Done's; a loaded machine may draw fewer.
		{"tty", Options{Mode: TTY, Total: 1 << 30}, 2, 6},
		{"lines", Options{Mode: Lines, Total: 1 << 30, Every: 200 * time.Millisecond}, 2, 3},
		{"quiet", Options{Mode: Quiet, Total: 1 << 30}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Written under the bar's lock, read after Done has waited for its goroutine.
			var buf bytes.Buffer
			b := New(&buf, tc.opts)
			for end := time.Now().Add(run); time.Now().Before(end); time.Sleep(time.Millisecond) {
				b.Add(1)
			}
			b.Logf("a line of its own")
			b.Done()
			b.Done()
			out := buf.String()
			draws := strings.Count(out, "/1073741824")
			if tc.opts.Mode == TTY {
				draws-- // the redraw after Logf
			}
			if draws < tc.minDraws || draws > tc.maxDraws+1 {
				t.Fatalf("%d draws in %s (want %d to %d, and Done's):\n%q", draws, run, tc.minDraws, tc.maxDraws, out)
			}
			if !strings.Contains(out, "a line of its own\n") {
				t.Fatalf("the Logf line is missing:\n%q", out)
			}
		})
	}
}

// TestAuto picks TTY for a terminal and Lines for anything else.
func TestAuto(t *testing.T) {
	if b := newBar(&bytes.Buffer{}, Options{}, time.Now); b.mode != Lines {
		t.Errorf("a buffer: mode %d, want Lines", b.mode)
	}
	f, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if b := newBar(f, Options{}, time.Now); b.mode != Lines {
		t.Errorf("a file: mode %d, want Lines", b.mode)
	}
	tty := openPTY(t)
	if b := newBar(tty, Options{}, time.Now); b.mode != TTY {
		t.Errorf("a terminal: mode %d, want TTY", b.mode)
	}
}

// openPTY opens the terminal side of a new pseudo-terminal.
func openPTY(t *testing.T) *os.File {
	t.Helper()
	ptm, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { ptm.Close() })
	fd := int(ptm.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Skipf("unlocking the pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Skipf("naming the pseudo-terminal: %v", err)
	}
	pts, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("opening the pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { pts.Close() })
	return pts
}
