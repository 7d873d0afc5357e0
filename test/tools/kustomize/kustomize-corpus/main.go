// Command kustomize-corpus reads the test sources of kustomize's own modules (as the Go module
// proxy serves them) and prints, as JSON, the kustomizations they build: the files each test
// writes and the directory it builds (api/krusty), the replacement tables of
// api/filters/replacement, and the source/dest pairs of kyaml's merge2 tables. The lading test
// that runs it builds every case with both lading and `kubectl kustomize` and compares.
//
// Only tests whose inputs are plain string literals are taken; the rest are skipped.
//
// Usage: go run . API_MODULE_DIR KYAML_MODULE_DIR
package main

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Case is one kustomization to build: files by path, and the directory to build.
type Case struct {
	Name  string            `json:"name"`
	Kind  string            `json:"kind"`
	Files map[string]string `json:"files,omitempty"`
	Build string            `json:"build,omitempty"`
	// merge2 pairs: a patch (Source) applied to a resource (Dest)
	Source string `json:"source,omitempty"`
	Dest   string `json:"dest,omitempty"`
}

func stringLit(e ast.Expr) (string, bool) {
	b, ok := e.(*ast.BasicLit)
	if !ok || b.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(b.Value)
	return s, err == nil
}

func parseDir(dir string) []*ast.File {
	paths, _ := filepath.Glob(filepath.Join(dir, "*_test.go"))
	sort.Strings(paths)
	var out []*ast.File
	for _, p := range paths {
		f, err := parser.ParseFile(token.NewFileSet(), p, nil, 0)
		if err == nil {
			out = append(out, f)
		}
	}
	return out
}

// krusty: each Test function's th.WriteF/WriteK/WriteC calls (outside closures) and its first
// th.Run directory. WriteK and WriteC put the kustomization header in front, as the harness does.
func krusty(dir string) []Case {
	var cases []Case
	for _, f := range parseDir(dir) {
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil || !strings.HasPrefix(fd.Name.Name, "Test") {
				continue
			}
			files := map[string]string{}
			build, usable := "", true
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				if _, ok := n.(*ast.FuncLit); ok {
					return false
				}
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				switch sel.Sel.Name {
				case "WriteF", "WriteK", "WriteC":
					if len(call.Args) != 2 {
						usable = false
						return true
					}
					p, ok1 := stringLit(call.Args[0])
					content, ok2 := stringLit(call.Args[1])
					if !ok1 || !ok2 {
						usable = false
						return true
					}
					switch sel.Sel.Name {
					case "WriteK":
						p = filepath.Join(p, "kustomization.yaml")
						content = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n" + content
					case "WriteC":
						p = filepath.Join(p, "kustomization.yaml")
						content = "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n" + content
					}
					files[strings.TrimPrefix(filepath.Clean(p), "/")] = content
				case "Run", "RunWithErr":
					if build == "" && len(call.Args) >= 1 {
						if p, ok := stringLit(call.Args[0]); ok {
							build = strings.TrimPrefix(filepath.Clean(p), "/")
						}
					}
				}
				return true
			})
			if usable && build != "" && len(files) > 0 {
				cases = append(cases, Case{Name: fd.Name.Name, Kind: "krusty", Files: files, Build: build})
			}
		}
	}
	return cases
}

// tables: composite literals whose fields named by `want` are all string literals.
func tables(dir string, want ...string) []map[string]string {
	var out []map[string]string
	for _, f := range parseDir(dir) {
		ast.Inspect(f, func(n ast.Node) bool {
			cl, ok := n.(*ast.CompositeLit)
			if !ok {
				return true
			}
			row := map[string]string{}
			for _, e := range cl.Elts {
				kv, ok := e.(*ast.KeyValueExpr)
				if !ok {
					continue
				}
				if id, ok := kv.Key.(*ast.Ident); ok {
					if v, ok := stringLit(kv.Value); ok {
						row[id.Name] = v
					}
				}
			}
			for _, w := range want {
				if row[w] == "" {
					return true
				}
			}
			out = append(out, row)
			return true
		})
	}
	return out
}

func main() {
	if len(os.Args) != 3 {
		os.Stderr.WriteString("usage: kustomize-corpus API_MODULE_DIR KYAML_MODULE_DIR\n")
		os.Exit(2)
	}
	apiDir, kyamlDir := os.Args[1], os.Args[2]
	cases := krusty(filepath.Join(apiDir, "krusty"))
	for i, row := range tables(filepath.Join(apiDir, "filters", "replacement"), "input", "replacements") {
		cases = append(cases, Case{
			Name:  "replacement/" + strconv.Itoa(i),
			Kind:  "replacement",
			Files: map[string]string{"res.yaml": row["input"], "kustomization.yaml": "resources:\n- res.yaml\n" + row["replacements"] + "\n"},
			Build: ".",
		})
	}
	for i, row := range tables(filepath.Join(kyamlDir, "yaml", "merge2"), "source", "dest") {
		name := row["description"]
		if name == "" {
			name = strconv.Itoa(i)
		}
		cases = append(cases, Case{Name: "merge2/" + name, Kind: "merge2", Source: row["source"], Dest: row["dest"]})
	}
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(cases); err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(1)
	}
}
