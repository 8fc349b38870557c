package chart

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// instruction is one Dockerfile instruction with its continuation lines joined.
type instruction struct {
	line int
	cmd  string // upper case: FROM, RUN, COPY...
	args string
}

// stage is one FROM ... AS name block.
type stage struct {
	name, workdir string
	instructions  []instruction
}

func parseDockerfile(t *testing.T, path string) []*stage {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var stages []*stage
	var cur strings.Builder
	start, n := 0, 0
	sc := bufio.NewScanner(f)
	flush := func() {
		text := strings.TrimSpace(cur.String())
		cur.Reset()
		if text == "" {
			return
		}
		cmd, args, _ := strings.Cut(text, " ")
		in := instruction{line: start, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		switch {
		case in.cmd == "FROM":
			s := &stage{name: strconv.Itoa(len(stages)), workdir: "/"}
			if f := strings.Fields(in.args); len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.name = f[2]
			}
			stages = append(stages, s)
		case len(stages) == 0:
			// ARG before the first FROM.
			return
		case in.cmd == "WORKDIR":
			last := stages[len(stages)-1]
			last.workdir = filepath.Join(last.workdir, in.args)
		}
		if len(stages) > 0 {
			last := stages[len(stages)-1]
			last.instructions = append(last.instructions, in)
		}
	}
	for sc.Scan() {
		n++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cur.Len() > 0 && strings.HasPrefix(trimmed, "#") {
			continue // a comment inside a continued instruction
		}
		if cur.Len() == 0 {
			start = n
		}
		if strings.HasSuffix(line, "\\") {
			cur.WriteString(strings.TrimSuffix(line, "\\") + " ")
			continue
		}
		cur.WriteString(line)
		flush()
	}
	flush()
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return stages
}

// copyArgs splits COPY's arguments into flags, sources and the destination.
func copyArgs(args string) (from string, sources []string, dest string) {
	fields := strings.Fields(args)
	var rest []string
	for _, f := range fields {
		if strings.HasPrefix(f, "--from=") {
			from = strings.TrimPrefix(f, "--from=")
		} else if !strings.HasPrefix(f, "--") {
			rest = append(rest, f)
		}
	}
	if len(rest) < 2 {
		return from, nil, ""
	}
	return from, rest[:len(rest)-1], rest[len(rest)-1]
}

// dockerignored reports whether a context path is excluded by .dockerignore (the patterns
// this repository uses: directory names, globs and **/ prefixes).
func dockerignored(patterns []string, rel string) bool {
	rel = filepath.ToSlash(filepath.Clean(rel))
	for _, p := range patterns {
		p = strings.TrimSuffix(p, "/")
		parts := strings.Split(rel, "/")
		for i := range parts {
			prefix := strings.Join(parts[:i+1], "/")
			if ok, _ := filepath.Match(p, prefix); ok {
				return true
			}
			if strings.HasPrefix(p, "**/") {
				if ok, _ := filepath.Match(strings.TrimPrefix(p, "**/"), parts[i]); ok {
					return true
				}
			}
		}
	}
	return false
}

func readDockerignore(t *testing.T) []string {
	data, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

var (
	makeTargetRE = regexp.MustCompile(`\bmake\s+([a-zA-Z0-9_-]+)`)
	hackScriptRE = regexp.MustCompile(`\bhack/[A-Za-z0-9_./-]+\.sh\b`)
)

// TestDockerfileCopiesExist checks every COPY: a context source must exist in the
// repository and not be excluded by .dockerignore; a --from source must come from a named
// earlier stage that makes it (a RUN of that stage names the path, or it is a make
// output under the stage's WORKDIR). Every make target and hack/ script it runs must exist.
func TestDockerfileCopiesExist(t *testing.T) {
	stages := parseDockerfile(t, filepath.Join(repoRoot, "Dockerfile"))
	if len(stages) < 2 {
		t.Fatalf("want a multi-stage Dockerfile, found %d stages", len(stages))
	}
	ignore := readDockerignore(t)
	makefile, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*stage{}
	copies := 0
	for _, s := range stages {
		var runs []string
		for _, in := range s.instructions {
			if in.cmd == "RUN" {
				runs = append(runs, in.args)
			}
		}
		runText := strings.Join(runs, "\n")
		for _, m := range makeTargetRE.FindAllStringSubmatch(runText, -1) {
			if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(m[1]) + `:`).Match(makefile) {
				t.Errorf("stage %s runs make %s, which the Makefile lacks", s.name, m[1])
			}
		}
		for _, script := range hackScriptRE.FindAllString(runText, -1) {
			if _, err := os.Stat(filepath.Join(repoRoot, script)); err != nil {
				t.Errorf("stage %s runs %s: %v", s.name, script, err)
			}
		}
		for _, in := range s.instructions {
			if in.cmd != "COPY" && in.cmd != "ADD" {
				continue
			}
			from, sources, _ := copyArgs(in.args)
			if len(sources) == 0 {
				t.Errorf("line %d: COPY without sources: %s", in.line, in.args)
				continue
			}
			for _, src := range sources {
				copies++
				if from == "" {
					checkContextSource(t, ignore, in.line, src)
					continue
				}
				producer, ok := byName[from]
				if !ok {
					t.Errorf("line %d: COPY --from=%s names no earlier stage", in.line, from)
					continue
				}
				if !producedBy(producer, src, string(makefile)) {
					t.Errorf("line %d: %s is not made by stage %s (no RUN names it, and it is no make output under %s)", in.line, src, from, producer.workdir)
				}
			}
		}
		byName[s.name] = s
	}
	if copies == 0 {
		t.Fatal("no COPY found")
	}
}

func checkContextSource(t *testing.T, ignore []string, line int, src string) {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join(repoRoot, src))
	if len(matches) == 0 {
		t.Errorf("line %d: COPY %s: no such path in the repository", line, src)
		return
	}
	if src != "." && dockerignored(ignore, src) {
		t.Errorf("line %d: COPY %s: excluded by .dockerignore", line, src)
	}
}

func producedBy(s *stage, src, makefile string) bool {
	clean := strings.TrimSuffix(src, "/")
	for _, in := range s.instructions {
		if in.cmd == "RUN" && strings.Contains(in.args, clean) {
			return true
		}
	}
	rel, err := filepath.Rel(s.workdir, clean)
	if err != nil || strings.HasPrefix(rel, "..") {
		return false
	}
	for _, in := range s.instructions {
		if in.cmd == "RUN" && makeTargetRE.MatchString(in.args) && strings.Contains(makefile, rel) {
			return true
		}
	}
	return false
}

// TestDockerfileRuntime checks the final stage against what the chart and the operator's
// index pods expect: a numeric non-root user, the binary as entrypoint, and the ONNX Runtime
// and model pack paths the chart's values point at.
func TestDockerfileRuntime(t *testing.T) {
	stages := parseDockerfile(t, filepath.Join(repoRoot, "Dockerfile"))
	final := stages[len(stages)-1]
	env := map[string]string{}
	var user, entrypoint string
	var dests []string
	for _, in := range final.instructions {
		switch in.cmd {
		case "USER":
			user = in.args
		case "ENTRYPOINT":
			entrypoint = in.args
		case "ENV":
			for _, kv := range strings.Fields(in.args) {
				if k, v, ok := strings.Cut(kv, "="); ok {
					env[k] = v
				}
			}
		case "COPY":
			_, _, dest := copyArgs(in.args)
			dests = append(dests, dest)
		}
	}
	uid, _, _ := strings.Cut(user, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("USER %q: want a numeric non-root UID (runAsNonRoot needs one)", user)
	}
	if !strings.Contains(entrypoint, "/usr/local/bin/facesearch") {
		t.Errorf("ENTRYPOINT %s does not run the binary", entrypoint)
	}
	copied := func(p string) bool {
		for _, d := range dests {
			if strings.HasPrefix(p, strings.TrimSuffix(d, "/")) {
				return true
			}
		}
		return false
	}

	var values struct {
		OnnxRuntimeLibrary string `json:"onnxRuntimeLibrary"`
		ModelPacks         struct {
			Packs []string `json:"packs"`
		} `json:"modelPacks"`
	}
	data, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &values); err != nil {
		t.Fatal(err)
	}
	if env["FACESEARCH_ONNXRUNTIME"] != values.OnnxRuntimeLibrary || !copied(values.OnnxRuntimeLibrary) {
		t.Errorf("FACESEARCH_ONNXRUNTIME=%q, chart onnxRuntimeLibrary=%q: must agree and be copied in", env["FACESEARCH_ONNXRUNTIME"], values.OnnxRuntimeLibrary)
	}
	for _, pack := range values.ModelPacks.Packs {
		dir := "/opt/facesearch/models/" + pack
		if !copied(dir) || !strings.Contains(env["FACESEARCH_MODEL_PACKS"], dir) {
			t.Errorf("model pack %s of the chart's defaults is not at %s in the image", pack, dir)
		}
		if _, err := os.Stat(filepath.Join(repoRoot, "modelpacks", pack, "manifest.json")); err != nil {
			t.Errorf("model pack %s: %v", pack, err)
		}
	}
}

func TestDockerignorePatterns(t *testing.T) {
	ignore := []string{".git", "bin/", "**/*.test", "charts/"}
	cases := []struct {
		path string
		want bool
	}{
		{"bin/facesearch", true},
		{"internal/face/face.test", true},
		{"index.test", true},
		{"charts/facesearch/values.yaml", true},
		{"go.mod", false},
		{"hack/lib.sh", false},
		{"internal/index/benchdata/benchdata.go", false},
	}
	for _, c := range cases {
		if got := dockerignored(ignore, c.path); got != c.want {
			t.Errorf("dockerignored(%s) = %v, want %v", c.path, got, c.want)
		}
	}
}
