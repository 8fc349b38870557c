package main

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
)

// Package is what the generator read from the API package.
type Package struct {
	Group, Version string
	Doc            string
	Types          map[string]*Type
	// Order is the order types appear in the documentation: root kinds first.
	Order []string
	// Constants lists documented constants by their type name ("" for untyped).
	Constants map[string][]Constant
}

// Type is one named type.
type Type struct {
	Name    string
	Doc     string
	Markers []string
	Fields  []Field
	// Underlying is the Go type of a non-struct type (string for enums).
	Underlying string
	Root       bool
}

// Field is one JSON field of a struct.
type Field struct {
	JSONName string
	GoType   string
	Doc      string
	Markers  []string
	Inline   bool
}

// Constant is a documented constant.
type Constant struct {
	Name, Value, Doc string
}

// Load parses every non-generated, non-test Go file of dir.
func Load(dir string) (*Package, error) {
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	p := &Package{Types: map[string]*Type{}, Constants: map[string][]Constant{}}
	for _, name := range files {
		base := filepath.Base(name)
		if strings.HasPrefix(base, "zz_generated") || strings.HasSuffix(base, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		if err != nil {
			return nil, err
		}
		if f.Doc != nil {
			doc, markers := splitComment(f.Doc)
			for _, m := range markers {
				if g, ok := strings.CutPrefix(m, "+groupName="); ok {
					p.Group = g
				}
			}
			if doc != "" {
				p.Doc = doc
			}
			p.Version = f.Name.Name
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok {
				continue
			}
			switch gd.Tok {
			case token.TYPE:
				for _, spec := range gd.Specs {
					ts := spec.(*ast.TypeSpec)
					cg := ts.Doc
					if cg == nil {
						cg = gd.Doc
					}
					p.addType(ts, cg)
				}
			case token.CONST:
				for _, spec := range gd.Specs {
					vs := spec.(*ast.ValueSpec)
					typ := ""
					if id, ok := vs.Type.(*ast.Ident); ok {
						typ = id.Name
					}
					doc, _ := splitComment(vs.Doc)
					for i, n := range vs.Names {
						val := ""
						if i < len(vs.Values) {
							val = exprString(vs.Values[i])
						}
						p.Constants[typ] = append(p.Constants[typ], Constant{Name: n.Name, Value: val, Doc: doc})
					}
				}
			}
		}
	}
	if p.Version == "" {
		p.Version = filepath.Base(dir)
	}
	p.order()
	return p, nil
}

func (p *Package) addType(ts *ast.TypeSpec, cg *ast.CommentGroup) {
	doc, markers := splitComment(cg)
	t := &Type{Name: ts.Name.Name, Doc: doc, Markers: markers}
	for _, m := range markers {
		if m == "+kubebuilder:object:root=true" && !strings.HasSuffix(t.Name, "List") {
			t.Root = true
		}
	}
	st, ok := ts.Type.(*ast.StructType)
	if !ok {
		t.Underlying = exprString(ts.Type)
		p.Types[t.Name] = t
		return
	}
	for _, f := range st.Fields.List {
		if f.Tag == nil {
			continue
		}
		tag := reflect.StructTag(strings.Trim(f.Tag.Value, "`")).Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		fdoc, fmarkers := splitComment(f.Doc)
		field := Field{JSONName: name, GoType: exprString(f.Type), Doc: fdoc, Markers: fmarkers, Inline: strings.Contains(opts, "inline")}
		if name == "" && len(f.Names) > 0 {
			field.JSONName = f.Names[0].Name
		}
		t.Fields = append(t.Fields, field)
	}
	p.Types[t.Name] = t
}

// order puts the root kinds first (as declared: Collection, User, SearchRequest), then the
// types they use in the order they are first reached, then anything left, by name.
func (p *Package) order() {
	seen := map[string]bool{}
	var visit func(name string)
	visit = func(name string) {
		t, ok := p.Types[name]
		if !ok || seen[name] {
			return
		}
		seen[name] = true
		p.Order = append(p.Order, name)
		for _, f := range t.Fields {
			visit(baseType(f.GoType))
		}
	}
	for _, root := range []string{"Collection", "User", "SearchRequest"} {
		visit(root)
	}
	var rest []string
	for name, t := range p.Types {
		if !seen[name] && !strings.HasSuffix(name, "List") || (t.Root && !seen[name]) {
			rest = append(rest, name)
		}
	}
	sort.Strings(rest)
	for _, name := range rest {
		visit(name)
	}
}

// splitComment separates prose from +markers.
func splitComment(cg *ast.CommentGroup) (string, []string) {
	if cg == nil {
		return "", nil
	}
	var prose []string
	var markers []string
	for _, line := range strings.Split(cg.Text(), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "+") {
			markers = append(markers, trimmed)
			continue
		}
		prose = append(prose, line)
	}
	return strings.TrimSpace(strings.Join(prose, "\n")), markers
}

func exprString(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name
	case *ast.StarExpr:
		return "*" + exprString(x.X)
	case *ast.ArrayType:
		return "[]" + exprString(x.Elt)
	case *ast.MapType:
		return "map[" + exprString(x.Key) + "]" + exprString(x.Value)
	case *ast.SelectorExpr:
		return exprString(x.X) + "." + x.Sel.Name
	case *ast.BasicLit:
		return x.Value
	default:
		return fmt.Sprintf("%T", e)
	}
}

func baseType(goType string) string {
	return strings.TrimLeft(goType, "*[]")
}

// externalDocs links the Kubernetes types the API uses.
var externalDocs = map[string]string{
	"metav1.ObjectMeta":           "https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/object-meta/#ObjectMeta",
	"metav1.Condition":            "https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/condition/",
	"metav1.Time":                 "https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/time/",
	"corev1.LocalObjectReference": "https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/local-object-reference/",
	"corev1.ResourceRequirements": "https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/#resources",
}

func (p *Package) typeLink(goType string) string {
	prefix := goType[:len(goType)-len(baseType(goType))]
	base := baseType(goType)
	shown := strings.ReplaceAll(prefix, "*", "") + base
	if _, ok := p.Types[base]; ok {
		return fmt.Sprintf("[%s](#%s)", shown, strings.ToLower(base))
	}
	if url, ok := externalDocs[base]; ok {
		return fmt.Sprintf("[%s](%s)", shown, url)
	}
	switch base {
	case "string", "bool", "int32", "int64", "byte":
		if goType == "[]byte" {
			return "string (base64)"
		}
	}
	return shown
}

// validation renders a field's or type's markers as short constraints.
func validation(markers []string) (required string, rules []string) {
	for _, m := range markers {
		switch {
		case m == "+required":
			required = "required"
		case m == "+optional":
			required = "optional"
		case strings.HasPrefix(m, "+kubebuilder:default="):
			rules = append(rules, "default `"+strings.TrimPrefix(m, "+kubebuilder:default=")+"`")
		case strings.HasPrefix(m, "+kubebuilder:validation:XValidation:"):
			rule := strings.TrimPrefix(m, "+kubebuilder:validation:XValidation:")
			if i := strings.Index(rule, `message="`); i >= 0 {
				msg := strings.TrimSuffix(rule[i+len(`message="`):], `"`)
				rules = append(rules, "CEL: "+msg)
			} else {
				rules = append(rules, "CEL: `"+rule+"`")
			}
		case strings.HasPrefix(m, "+kubebuilder:validation:"):
			kv := strings.TrimPrefix(m, "+kubebuilder:validation:")
			k, v, _ := strings.Cut(kv, "=")
			v = strings.Trim(v, "`")
			switch k {
			case "Enum":
				rules = append(rules, "one of "+codeList(strings.Split(v, ";")))
			case "Pattern":
				rules = append(rules, "pattern `"+v+"`")
			default:
				rules = append(rules, fmt.Sprintf("%s %s", k, v))
			}
		case m == "+listType=map" || strings.HasPrefix(m, "+listMapKey="):
			rules = append(rules, "`"+strings.TrimPrefix(m, "+")+"`")
		}
	}
	return required, rules
}

func codeList(items []string) string {
	out := make([]string, len(items))
	for i, s := range items {
		out[i] = "`" + s + "`"
	}
	return strings.Join(out, ", ")
}

// cell makes prose fit in a Markdown table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.Join(strings.Fields(s), " ")
}

// Write renders the reference as Markdown.
func (p *Package) Write(w io.Writer) error {
	var b bytes.Buffer
	gv := p.Group + "/" + p.Version
	fmt.Fprintf(&b, "# API reference: %s\n\n", gv)
	fmt.Fprintf(&b, "<!-- Generated by hack/apidocs from api/%s; do not edit. Regenerate: go run ./hack/apidocs -out docs/api-reference.md -->\n\n", p.Version)
	if p.Doc != "" {
		fmt.Fprintf(&b, "%s\n\n", cell(p.Doc))
	}
	b.WriteString("Field names are the JSON names used in YAML. Validation is enforced by the CRD schema on the API server (OpenAPI and CEL rules), so a `kubectl apply` of an invalid object is refused.\n\n")
	b.WriteString("## Kinds\n\n")
	for _, name := range p.Order {
		if t := p.Types[name]; t.Root {
			fmt.Fprintf(&b, "- [%s](#%s): %s\n", name, strings.ToLower(name), cell(firstSentence(t.Doc)))
		}
	}
	b.WriteString("\n")
	for _, name := range p.Order {
		t := p.Types[name]
		if strings.HasSuffix(name, "List") && t.Root {
			continue
		}
		p.writeType(&b, t)
	}
	groups := []struct{ title, suffix string }{
		{"Condition types", "Condition"},
		{"Condition reasons", "Reason"},
		{"Other constants", ""},
	}
	done := map[string]bool{}
	for _, g := range groups {
		var rows []Constant
		for _, c := range p.Constants[""] {
			if !done[c.Name] && strings.HasSuffix(c.Name, g.suffix) {
				rows = append(rows, c)
				done[c.Name] = true
			}
		}
		if len(rows) == 0 {
			continue
		}
		fmt.Fprintf(&b, "## %s\n\n| constant | value | meaning |\n|---|---|---|\n", g.title)
		for _, c := range rows {
			fmt.Fprintf(&b, "| `%s` | `%s` | %s |\n", c.Name, strings.Trim(c.Value, `"`), cell(stripName(c.Doc, c.Name)))
		}
		b.WriteString("\n")
	}
	_, err := w.Write(b.Bytes())
	return err
}

func (p *Package) writeType(b *bytes.Buffer, t *Type) {
	fmt.Fprintf(b, "## %s\n\n", t.Name)
	if t.Root {
		fmt.Fprintf(b, "`apiVersion: %s/%s`, `kind: %s`", p.Group, p.Version, t.Name)
		for _, m := range t.Markers {
			if r, ok := strings.CutPrefix(m, "+kubebuilder:resource:"); ok {
				fmt.Fprintf(b, " (%s)", strings.ReplaceAll(r, ",", "; "))
			}
		}
		b.WriteString("\n\n")
	}
	if t.Doc != "" {
		fmt.Fprintf(b, "%s\n\n", t.Doc)
	}
	_, rules := validation(t.Markers)
	if len(rules) > 0 {
		fmt.Fprintf(b, "Validation: %s.\n\n", strings.Join(rules, "; "))
	}
	if t.Underlying != "" {
		fmt.Fprintf(b, "Type: `%s`.\n\n", t.Underlying)
		if consts := p.Constants[t.Name]; len(consts) > 0 {
			b.WriteString("| value | meaning |\n|---|---|\n")
			for _, c := range consts {
				fmt.Fprintf(b, "| `%s` | %s |\n", strings.Trim(c.Value, `"`), cell(stripName(c.Doc, c.Name)))
			}
			b.WriteString("\n")
		}
		return
	}
	var cols []string
	for _, m := range t.Markers {
		if c, ok := strings.CutPrefix(m, "+kubebuilder:printcolumn:"); ok {
			for _, kv := range strings.Split(c, ",") {
				if n, ok := strings.CutPrefix(kv, "name="); ok {
					cols = append(cols, strings.Trim(n, `"`))
				}
			}
		}
	}
	if len(cols) > 0 {
		fmt.Fprintf(b, "`kubectl get` columns: %s.\n\n", strings.Join(cols, ", "))
	}
	b.WriteString("| field | type | | description |\n|---|---|---|---|\n")
	for _, f := range t.Fields {
		if f.Inline {
			continue
		}
		req, rules := validation(f.Markers)
		desc := cell(f.Doc)
		if len(rules) > 0 {
			desc += "<br>" + cell(strings.Join(rules, "; "))
		}
		fmt.Fprintf(b, "| `%s` | %s | %s | %s |\n", f.JSONName, p.typeLink(f.GoType), req, desc)
	}
	b.WriteString("\n")
}

func firstSentence(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if i := strings.Index(s, ". "); i >= 0 {
		return s[:i+1]
	}
	return s
}

// stripName drops a leading "Name:" or "Name " from a constant's comment.
func stripName(doc, name string) string {
	doc = strings.TrimSpace(doc)
	if rest, ok := strings.CutPrefix(doc, name); ok {
		return strings.TrimLeft(rest, ": ")
	}
	return doc
}
