// Package lint holds the project's architecture rules as tests: the pure
// protocol packages stay free of I/O, clocks, randomness and goroutines (so
// that the simulator can drive them deterministically), no package keeps
// mutable state at package level, and the public client imports nothing
// internal.
package lint

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// purePackages take time, randomness and I/O only as inputs.
var purePackages = []string{
	"internal/aae",
	"internal/coordinator",
	"internal/dvv",
	"internal/hlc",
	"internal/membership",
	"internal/object",
	"internal/quorum",
	"internal/replica",
	"internal/ring",
	"internal/sim/check",
}

// seededPackages follow the pure rules except that they may draw from
// math/rand/v2 generators they seed themselves (rand.New over rand.NewPCG),
// never from the global source: the simulator.
var seededPackages = []string{
	"internal/sim",
}

// seededRandFuncs are what a seeded package may use of math/rand/v2.
var seededRandFuncs = []string{"New", "NewPCG", "Rand", "PCG"}

// forbiddenInPure are imports that bring I/O, goroutine synchronisation,
// global randomness or logging into a pure package.
var forbiddenInPure = []string{
	"net", "os", "os/exec", "os/signal", "syscall", "io/ioutil",
	"math/rand", "math/rand/v2", "crypto/rand",
	"sync", "sync/atomic", "log", "log/slog",
	"github.com/cockroachdb/pebble", "github.com/hashicorp/memberlist", "google.golang.org/grpc",
}

// forbiddenTimeFuncs read the wall clock or sleep; pure code may use the
// time package's types but not these.
var forbiddenTimeFuncs = []string{"Now", "Since", "Until", "Sleep", "After", "AfterFunc", "Tick", "NewTimer", "NewTicker"}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatalf("repository root not found from %s", dir)
	}
	return dir
}

// parseDir parses the non-test Go files of one directory.
func parseDir(t *testing.T, dir string) (*token.FileSet, []*ast.File) {
	t.Helper()
	fset := token.NewFileSet()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return fset, files
}

func importPath(s *ast.ImportSpec) string {
	p, _ := strconv.Unquote(s.Path.Value)
	return p
}

func TestPurePackages(t *testing.T) {
	root := repoRoot(t)
	for _, pkg := range append(purePackages, seededPackages...) {
		dir := filepath.Join(root, pkg)
		if _, err := os.Stat(dir); err != nil {
			t.Errorf("pure package %s is missing", pkg)
			continue
		}
		for _, v := range pureViolations(t, dir, slices.Contains(seededPackages, pkg)) {
			t.Error(v)
		}
	}
}

// pureViolations lists what breaks the pure-package rules in dir; seeded
// allows self-seeded generators of math/rand/v2.
func pureViolations(t *testing.T, dir string, seeded bool) []string {
	t.Helper()
	var out []string
	fset, files := parseDir(t, dir)
	if len(files) == 0 {
		out = append(out, dir+": no Go files")
	}
	for _, f := range files {
		timeName, randName := "", ""
		for _, imp := range f.Imports {
			path := importPath(imp)
			if seeded && path == "math/rand/v2" {
				randName = "rand"
				if imp.Name != nil {
					randName = imp.Name.Name
				}
				continue
			}
			for _, bad := range forbiddenInPure {
				if path == bad || strings.HasPrefix(path, bad+"/") {
					out = append(out, fmt.Sprintf("%s: pure package imports %s", fset.Position(imp.Pos()), path))
				}
			}
			if path == "time" {
				timeName = "time"
				if imp.Name != nil {
					timeName = imp.Name.Name
				}
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.GoStmt:
				out = append(out, fmt.Sprintf("%s: goroutine in a pure package", fset.Position(n.Pos())))
			case *ast.SelectStmt:
				out = append(out, fmt.Sprintf("%s: select in a pure package", fset.Position(n.Pos())))
			case *ast.SelectorExpr:
				if id, ok := n.X.(*ast.Ident); ok && randName != "" && id.Name == randName && !slices.Contains(seededRandFuncs, n.Sel.Name) {
					out = append(out, fmt.Sprintf("%s: rand.%s draws from the global source", fset.Position(n.Pos()), n.Sel.Name))
				}
				if id, ok := n.X.(*ast.Ident); ok && timeName != "" && id.Name == timeName {
					for _, fn := range forbiddenTimeFuncs {
						if n.Sel.Name == fn {
							out = append(out, fmt.Sprintf("%s: time.%s in a pure package", fset.Position(n.Pos()), fn))
						}
					}
				}
			}
			return true
		})
	}
	return out
}

// goDirs lists every directory with Go files under the given roots,
// skipping generated protobuf code.
func goDirs(t *testing.T, root string, under ...string) []string {
	t.Helper()
	var dirs []string
	for _, u := range under {
		base := filepath.Join(root, u)
		if _, err := os.Stat(base); err != nil {
			continue
		}
		err := filepath.WalkDir(base, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == "testdata" || d.Name() == "tuttipb") {
				return filepath.SkipDir
			}
			if !d.IsDir() && strings.HasSuffix(path, ".go") {
				dir := filepath.Dir(path)
				if len(dirs) == 0 || dirs[len(dirs)-1] != dir {
					dirs = append(dirs, dir)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return dirs
}

// TestNoPackageState allows package-level variables only for sentinel
// errors (errors.New) and compile-time interface checks (var _ I = ...).
// Lists of constants live in functions or in this test's own package.
func TestNoPackageState(t *testing.T) {
	root := repoRoot(t)
	for _, dir := range goDirs(t, root, "internal", "client", "cmd") {
		if strings.HasSuffix(dir, filepath.Join("internal", "lint")) {
			continue
		}
		for _, v := range stateViolations(t, dir) {
			t.Error(v)
		}
	}
}

// stateViolations lists the package-level variables in dir that are not
// sentinel errors or interface checks.
func stateViolations(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	fset, files := parseDir(t, dir)
	for _, f := range files {
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.VAR {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if name.Name == "_" || (i < len(vs.Values) && isErrorSentinel(vs.Values[i])) {
						continue
					}
					out = append(out, fmt.Sprintf("%s: package-level variable %s (only sentinel errors are allowed)", fset.Position(name.Pos()), name.Name))
				}
			}
		}
	}
	return out
}

// TestRulesCatchViolations plants a package that breaks every rule and
// checks that each one is reported, so the rules above cannot pass vacuously.
func TestRulesCatchViolations(t *testing.T) {
	dir := t.TempDir()
	bad := `package bad

import (
	"math/rand/v2"
	"os"
	"sync"
	clock "time"
)

var cache = map[string]int{}

var ErrFine = errors.New("bad: fine")

func f(ch chan int) {
	var mu sync.Mutex
	mu.Lock()
	go func() {}()
	select {
	case <-ch:
	}
	_ = clock.Now()
	_ = rand.Int()
	_, _ = os.Getwd()
}
`
	if err := os.WriteFile(filepath.Join(dir, "bad.go"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(pureViolations(t, dir, false), "\n")
	for _, want := range []string{"imports math/rand", "imports os", "imports sync", "goroutine", "select", "time.Now"} {
		if !strings.Contains(got, want) {
			t.Errorf("pure rules missed %q; reported:\n%s", want, got)
		}
	}
	// A seeded package may import math/rand/v2 but not use its global
	// source.
	seeded := strings.Join(pureViolations(t, dir, true), "\n")
	if !strings.Contains(seeded, "rand.Int draws from the global source") || strings.Contains(seeded, "imports math/rand") {
		t.Errorf("seeded rules reported:\n%s", seeded)
	}
	state := stateViolations(t, dir)
	if len(state) != 1 || !strings.Contains(state[0], "variable cache") {
		t.Errorf("state rule reported %v, want only the variable cache", state)
	}
}

func isErrorSentinel(e ast.Expr) bool {
	call, ok := e.(*ast.CallExpr)
	if !ok {
		return false
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	pkg, ok := sel.X.(*ast.Ident)
	return ok && ((pkg.Name == "errors" && sel.Sel.Name == "New") || (pkg.Name == "fmt" && sel.Sel.Name == "Errorf"))
}

// TestClientImportsNothingInternal keeps the public client usable on its
// own.
func TestClientImportsNothingInternal(t *testing.T) {
	root := repoRoot(t)
	for _, dir := range goDirs(t, root, "client") {
		fset, files := parseDir(t, dir)
		for _, f := range files {
			for _, imp := range f.Imports {
				if strings.Contains(importPath(imp), "/internal/") {
					t.Errorf("%s: client imports %s", fset.Position(imp.Pos()), importPath(imp))
				}
			}
		}
	}
}
