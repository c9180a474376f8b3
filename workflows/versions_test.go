package workflows_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestGetVersionChangeIDsAreListed fails on a workflow.GetVersion in the workflows whose change ID
// is not a constant of versions.go, so every change ID, and the rule that comes with it, is in
// one place.
func TestGetVersionChangeIDsAreListed(t *testing.T) {
	listed := listedChangeIDs(t)
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	var problems []string
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, file, nil, 0)
		require.NoError(t, err)
		problems = append(problems, unlistedChangeIDs(fset, f, listed)...)
	}
	require.Empty(t, problems, "each change ID is a constant of versions.go")
}

// TestUnlistedChangeIDsAreFound shows the check above can fail.
func TestUnlistedChangeIDsAreFound(t *testing.T) {
	const src = `package workflows

import wf "go.temporal.io/sdk/workflow"

func f(ctx wf.Context) {
	_ = wf.GetVersion(ctx, ChangeListed, wf.DefaultVersion, 1)
	_ = wf.GetVersion(ctx, "literal", wf.DefaultVersion, 1)
	_ = wf.GetVersion(ctx, changeElsewhere, wf.DefaultVersion, 1)
	g := wf.GetVersion
	_ = g
}
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "src.go", src, 0)
	require.NoError(t, err)
	problems := unlistedChangeIDs(fset, f, map[string]string{"ChangeListed": "change-listed"})
	require.Len(t, problems, 3, "the literal, the unlisted constant, the call through a variable: %q", problems)
}

// listedChangeIDs are the constants of versions.go, name to value. Each is a string literal, and
// no two share a value.
func listedChangeIDs(t *testing.T) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "versions.go", nil, 0)
	require.NoError(t, err)
	ids := map[string]string{}
	seen := map[string]string{}
	for _, d := range f.Decls {
		gen, ok := d.(*ast.GenDecl)
		if !ok || gen.Tok != token.CONST {
			continue
		}
		for _, spec := range gen.Specs {
			vs := spec.(*ast.ValueSpec)
			require.Len(t, vs.Values, len(vs.Names), "versions.go: each change ID has its own value")
			for i, name := range vs.Names {
				lit, ok := vs.Values[i].(*ast.BasicLit)
				require.True(t, ok && lit.Kind == token.STRING, "versions.go: %s is not a string literal", name.Name)
				v, err := strconv.Unquote(lit.Value)
				require.NoError(t, err)
				require.NotContains(t, seen, v, "versions.go: %s and %s share the change ID %q", seen[v], name.Name, v)
				seen[v], ids[name.Name] = name.Name, v
			}
		}
	}
	return ids
}

// unlistedChangeIDs describes each use of workflow.GetVersion in f that is not a call whose change
// ID is one of the listed constants.
func unlistedChangeIDs(fset *token.FileSet, f *ast.File, listed map[string]string) []string {
	pkg := ""
	for _, imp := range f.Imports {
		if imp.Path.Value == `"go.temporal.io/sdk/workflow"` {
			pkg = "workflow"
			if imp.Name != nil {
				pkg = imp.Name.Name
			}
		}
	}
	if pkg == "" {
		return nil
	}
	isGetVersion := func(n ast.Node) bool {
		sel, ok := n.(*ast.SelectorExpr)
		if !ok || sel.Sel.Name != "GetVersion" {
			return false
		}
		x, ok := ast.Unparen(sel.X).(*ast.Ident)
		return ok && x.Name == pkg
	}
	var problems []string
	called := map[ast.Node]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || !isGetVersion(call.Fun) {
			return true
		}
		called[call.Fun] = true
		if len(call.Args) < 2 {
			return true
		}
		if id, ok := ast.Unparen(call.Args[1]).(*ast.Ident); !ok || !slices.Contains(slices.Collect(maps.Keys(listed)), id.Name) {
			problems = append(problems, fset.Position(call.Pos()).String()+": the change ID is not a constant of versions.go")
		}
		return true
	})
	ast.Inspect(f, func(n ast.Node) bool {
		if n != nil && isGetVersion(n) && !called[n] {
			problems = append(problems, fset.Position(n.Pos()).String()+": workflow.GetVersion not called directly")
		}
		return true
	})
	return problems
}
