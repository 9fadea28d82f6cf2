package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// binaries are the workspace's three served programs, whose dependency
// graphs must hold no test code of ours.
var binaries = []string{"storefront.dev/bff-web", "storefront.dev/bff-mobile", "storefront.dev/deploy/sandbox"}

// testOnly are packages a storefront.dev package may import only in tests.
var testOnly = []string{"testing", "net/http/httptest"}

// restricted maps packages of ours that no production package may import
// to the one importer allowed, if any: the sandbox command alone serves the
// sandbox, and the manual clock is for tests.
var restricted = map[string]string{
	"storefront.dev/shared/sandbox":   "storefront.dev/deploy/sandbox",
	"storefront.dev/shared/clocktest": "",
}

// pkg is one line of go list -deps: a package and its direct imports.
type pkg struct {
	path    string
	imports []string
}

// violations returns, for one binary's dependency list, every storefront.dev
// package that imports test code, and every importer of a restricted
// package other than the one it allows. Packages outside storefront.dev
// are not ours to judge (Fiber's utils imports testing).
func violations(binary string, deps []pkg) []string {
	var out []string
	for _, p := range deps {
		if !strings.HasPrefix(p.path, "storefront.dev/") {
			continue
		}
		for _, imp := range p.imports {
			if slices.Contains(testOnly, imp) {
				out = append(out, binary+": "+p.path+" imports "+imp)
			}
			if allowed, ok := restricted[imp]; ok && p.path != allowed {
				out = append(out, binary+": "+p.path+" imports "+imp)
			}
		}
	}
	return out
}

func TestViolations(t *testing.T) {
	tests := []struct {
		name   string
		binary string
		deps   []pkg
		want   []string
	}{
		{
			name:   "clean",
			binary: "storefront.dev/bff-web",
			deps: []pkg{
				{"storefront.dev/bff-web", []string{"context", "storefront.dev/shared/httpserver"}},
				{"storefront.dev/shared/httpserver", []string{"github.com/gofiber/fiber/v2"}},
			},
		},
		{
			name:   "a third-party package may import testing",
			binary: "storefront.dev/bff-web",
			deps:   []pkg{{"github.com/gofiber/fiber/v2/utils", []string{"testing"}}},
		},
		{
			name:   "ours may not",
			binary: "storefront.dev/bff-mobile",
			deps: []pkg{
				{"storefront.dev/shared/upstream", []string{"net/http", "net/http/httptest"}},
				{"storefront.dev/shared/catalog", []string{"testing"}},
			},
			want: []string{
				"storefront.dev/bff-mobile: storefront.dev/shared/upstream imports net/http/httptest",
				"storefront.dev/bff-mobile: storefront.dev/shared/catalog imports testing",
			},
		},
		{
			name:   "a BFF on the sandbox",
			binary: "storefront.dev/bff-web",
			deps:   []pkg{{"storefront.dev/shared/gateway", []string{"storefront.dev/shared/sandbox"}}},
			want:   []string{"storefront.dev/bff-web: storefront.dev/shared/gateway imports storefront.dev/shared/sandbox"},
		},
		{
			name:   "the sandbox command on the sandbox",
			binary: "storefront.dev/deploy/sandbox",
			deps:   []pkg{{"storefront.dev/deploy/sandbox", []string{"storefront.dev/shared/sandbox"}}},
		},
		{
			name:   "the sandbox command on the manual clock",
			binary: "storefront.dev/deploy/sandbox",
			deps:   []pkg{{"storefront.dev/deploy/sandbox", []string{"storefront.dev/shared/clocktest"}}},
			want:   []string{"storefront.dev/deploy/sandbox: storefront.dev/deploy/sandbox imports storefront.dev/shared/clocktest"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := violations(tt.binary, tt.deps); !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestBinariesHoldNoTestCode lists the dependencies of the three binaries
// as the go command builds them (tests excluded) and checks them with
// violations: the sandbox and test support stay out of the gateways.
func TestBinariesHoldNoTestCode(t *testing.T) {
	root := workspaceRoot(t)
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go command to list the dependencies with: %v", err)
	}
	for _, binary := range binaries {
		cmd := exec.Command(goBin, "list", "-deps", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", binary)
		cmd.Dir = root
		// Explicitly, so that a GOWORK=off run of this module still resolves
		// the other modules' binaries.
		cmd.Env = append(os.Environ(), "GOWORK="+filepath.Join(root, "go.work"))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", binary, err, stderr.Bytes())
		}
		var deps []pkg
		for line := range strings.Lines(string(out)) {
			fields := strings.Fields(line)
			if len(fields) > 0 {
				deps = append(deps, pkg{path: fields[0], imports: fields[1:]})
			}
		}
		// The list must be the binary's graph, or the check proves nothing.
		if !slices.ContainsFunc(deps, func(p pkg) bool { return p.path == binary }) {
			t.Fatalf("go list %s: the binary is not in its own dependency list:\n%s", binary, out)
		}
		for _, v := range violations(binary, deps) {
			t.Error(v)
		}
	}
}

// workspaceRoot walks up from the test's directory to the one holding
// go.work, and skips the test when there is none (a module copied alone).
func workspaceRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("no go.work above the test's directory: not in the workspace")
		}
		dir = parent
	}
}
