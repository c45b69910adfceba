package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// instruction is one Dockerfile instruction after line continuations are
// joined: its keyword, upper case, and the rest of the line.
type instruction struct {
	cmd, args string
}

// parseDockerfile splits a Dockerfile into stages of instructions, the
// first FROM of each stage included. It knows comments and backslash
// continuations, enough for this repository's Dockerfile.
func parseDockerfile(text string) [][]instruction {
	var stages [][]instruction
	var logical strings.Builder
	flush := func() {
		line := strings.TrimSpace(logical.String())
		logical.Reset()
		if line == "" {
			return
		}
		cmd, args, _ := strings.Cut(line, " ")
		in := instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		if in.cmd == "FROM" || len(stages) == 0 {
			stages = append(stages, nil)
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], in)
	}
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") {
			continue
		}
		if cont, ok := strings.CutSuffix(trimmed, `\`); ok {
			logical.WriteString(strings.TrimSpace(cont) + " ")
			continue
		}
		logical.WriteString(trimmed)
		flush()
	}
	flush()
	return stages
}

// shellWords splits s at blanks outside double quotes and removes the
// quotes.
func shellWords(s string) []string {
	var words []string
	var w strings.Builder
	inQuote, inWord := false, false
	for _, r := range s {
		switch {
		case r == '"':
			inQuote = !inQuote
			inWord = true
		case (r == ' ' || r == '\t') && !inQuote:
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}

// makeVariable returns the words of a `NAME := ...` line of the Makefile.
func makeVariable(t *testing.T, makefile, name string) []string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `\s*:?=\s*(.*)$`).FindStringSubmatch(makefile)
	if m == nil {
		t.Fatalf("Makefile defines no %s", name)
	}
	return strings.Fields(m[1])
}

func readRepoFile(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", name))
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return string(data)
}

// TestDockerfileBuildsWhatMakeImageBuilds checks that the Dockerfile's final
// stage runs the image as hack/image does: same user, entrypoint, labels,
// binaries (the Makefile's IMAGE_CMDS), owners and modes, and that its
// builder compiles them with the version ldflags.
func TestDockerfileBuildsWhatMakeImageBuilds(t *testing.T) {
	stages := parseDockerfile(readRepoFile(t, "Dockerfile"))
	cmds := makeVariable(t, readRepoFile(t, "Makefile"), "IMAGE_CMDS")
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stages, want a builder and the image", len(stages))
	}
	final := stages[len(stages)-1]

	if got := final[0].args; got != "gcr.io/distroless/static:nonroot" {
		t.Errorf("final stage FROM %q, want gcr.io/distroless/static:nonroot", got)
	}
	if cmds[0] != defaultEntrypoint {
		t.Errorf("Makefile IMAGE_CMDS starts with %q, the entrypoint hack/image defaults to is %q", cmds[0], defaultEntrypoint)
	}

	var users, entrypoints []string
	var copied []string
	labels := map[string]string{}
	for _, in := range final {
		switch in.cmd {
		case "USER":
			users = append(users, in.args)
		case "ENTRYPOINT":
			var ep []string
			if err := json.Unmarshal([]byte(in.args), &ep); err != nil {
				t.Errorf("ENTRYPOINT %s is not the exec (JSON) form: %v", in.args, err)
			}
			entrypoints = append(entrypoints, strings.Join(ep, " "))
		case "LABEL":
			for _, kv := range shellWords(in.args) {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					t.Errorf("LABEL %q: want key=value", kv)
				}
				labels[k] = v
			}
		case "COPY":
			words := shellWords(in.args)
			want := []string{"--from=builder", fmt.Sprintf("--chown=%d:%d", imageUID, imageGID), fmt.Sprintf("--chmod=%04o", fileMode)}
			if len(words) != 5 || !slices.Equal(words[:3], want) {
				t.Errorf("COPY %s: want %s /out/NAME /NAME", in.args, strings.Join(want, " "))
				continue
			}
			name := strings.TrimPrefix(words[4], "/")
			if words[3] != "/out/"+name {
				t.Errorf("COPY %s: copies %s to %s, want /out/%s", in.args, words[3], words[4], name)
			}
			copied = append(copied, name)
		}
	}
	if !slices.Equal(users, []string{imageUser}) {
		t.Errorf("final stage USER %q, want one USER %s", users, imageUser)
	}
	if !slices.Equal(entrypoints, []string{"/" + defaultEntrypoint}) {
		t.Errorf("final stage ENTRYPOINT %q, want [\"/%s\"]", entrypoints, defaultEntrypoint)
	}
	if !slices.Equal(copied, cmds) {
		t.Errorf("final stage copies %v, the Makefile's IMAGE_CMDS are %v", copied, cmds)
	}

	meta := Metadata{
		Title: defaultTitle, Description: defaultDescription, Source: defaultSource, Licenses: defaultLicenses,
		Version: "${VERSION}", Revision: "${REVISION}", Created: time.Unix(0, 0),
	}
	want := meta.annotations()
	want[annotationCreated] = "${CREATED}"
	if !maps.Equal(labels, want) {
		t.Errorf("final stage labels\n%v\nwant hack/image's\n%v", labels, want)
	}

	var builds []string
	for _, in := range stages[len(stages)-2] {
		if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
			builds = append(builds, in.args)
		}
	}
	if len(builds) != 1 {
		t.Fatalf("builder stage has %d RUN go build, want 1", len(builds))
	}
	for _, want := range []string{
		"CGO_ENABLED=0", "GOOS=$TARGETOS", "GOARCH=$TARGETARCH", "-trimpath", `-ldflags "-s -w `,
		"pkg=github.com/redkube/redkube/internal/version",
		"-X $pkg.Version=", "-X $pkg.Revision=", "-X $pkg.Modified=",
	} {
		if !strings.Contains(builds[0], want) {
			t.Errorf("builder's go build lacks %q: %s", want, builds[0])
		}
	}
	for _, c := range cmds {
		if !slices.Contains(strings.Fields(builds[0]), "./cmd/"+c) {
			t.Errorf("builder's go build does not build ./cmd/%s: %s", c, builds[0])
		}
	}
}

func TestParseDockerfileJoinsContinuationsAndSkipsComments(t *testing.T) {
	got := parseDockerfile("# syntax=docker/dockerfile:1\nFROM a AS b\nRUN x \\\n  # inside\n  y\nfrom c\nUSER 1:1\n")
	want := [][]instruction{
		{{"FROM", "a AS b"}, {"RUN", "x y"}},
		{{"FROM", "c"}, {"USER", "1:1"}},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("parseDockerfile = %v, want %v", got, want)
	}
	if w := shellWords(`a="b c" d=e`); !slices.Equal(w, []string{"a=b c", "d=e"}) {
		t.Fatalf("shellWords = %q", w)
	}
}
