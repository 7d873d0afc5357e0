// Command schema-gen writes ../schema-data.ts: the part of the Kubernetes OpenAPI document built
// into kustomize's kyaml that strategic merge needs (which lists merge, by which keys, and how
// to reach them from a resource's apiVersion/kind) and ../../config/cluster-scoped.ts (the kinds
// kyaml knows to be cluster-scoped). Run it with `go run .` in this directory
// after changing the kyaml version in go.mod to follow a newer kustomize.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"

	"k8s.io/kube-openapi/pkg/validation/spec"
	"sigs.k8s.io/kustomize/kyaml/openapi"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// field is one property of a definition, as the generator reads it.
type field struct {
	ref      string // definition of the value (object) or of the items (list)
	mapRef   string // definition of the values of a string-keyed map
	list     bool
	strategy string
	keys     []string // x-kubernetes-list-map-keys, else the patch merge key
}

func refName(r spec.Ref) string { return strings.TrimPrefix(r.String(), "#/definitions/") }

func readField(p spec.Schema) field {
	f := field{}
	if p.Ref.String() != "" {
		f.ref = refName(p.Ref)
		return f
	}
	if len(p.Type) == 1 && p.Type[0] == "array" {
		f.list = true
		if p.Items != nil && p.Items.Schema != nil && p.Items.Schema.Ref.String() != "" {
			f.ref = refName(p.Items.Schema.Ref)
		}
	}
	if p.AdditionalProperties != nil && p.AdditionalProperties.Schema != nil && p.AdditionalProperties.Schema.Ref.String() != "" {
		f.mapRef = refName(p.AdditionalProperties.Schema.Ref)
	}
	if s, ok := p.Extensions["x-kubernetes-patch-strategy"].(string); ok {
		f.strategy = s
	}
	if l, ok := p.Extensions["x-kubernetes-list-map-keys"].([]interface{}); ok {
		for _, x := range l {
			f.keys = append(f.keys, x.(string))
		}
	} else if k, ok := p.Extensions["x-kubernetes-patch-merge-key"].(string); ok {
		f.keys = []string{k}
	}
	return f
}

func (f field) merges() bool {
	if !f.list {
		return false
	}
	for _, s := range strings.Split(f.strategy, ",") {
		if s == "merge" {
			return true
		}
	}
	return false
}

func short(n string) string {
	for _, p := range []string{"io.k8s.api.", "io.k8s.apimachinery.pkg.apis.", "io.k8s.apimachinery.pkg.", "io.k8s.apiextensions-apiserver.pkg.apis.", "io.k8s.kube-aggregator.pkg.apis."} {
		if strings.HasPrefix(n, p) {
			return strings.TrimPrefix(n, p)
		}
	}
	return n
}

func main() {
	// SchemaForResourceType loads the built-in (default) schema.
	_ = openapi.SchemaForResourceType(yaml.TypeMeta{Kind: "Deployment", APIVersion: "apps/v1"})
	root := openapi.Schema()
	defs := map[string]map[string]field{}
	kinds := map[string]string{}
	for name, d := range root.Definitions {
		if gvks, ok := d.Extensions["x-kubernetes-group-version-kind"].([]interface{}); ok {
			for _, g := range gvks {
				m := g.(map[string]interface{})
				av := m["version"].(string)
				if grp := m["group"].(string); grp != "" {
					av = grp + "/" + av
				}
				kinds[av+"/"+m["kind"].(string)] = name
			}
		}
		props := map[string]field{}
		for k, p := range d.Properties {
			props[k] = readField(p)
		}
		defs[name] = props
	}

	// A definition is interesting when a merge list can be reached from it.
	interesting := map[string]bool{}
	for changed := true; changed; {
		changed = false
		for n, props := range defs {
			if interesting[n] {
				continue
			}
			for _, f := range props {
				child := f.ref
				if f.mapRef != "" {
					child = f.mapRef
				}
				if f.merges() || (child != "" && interesting[child] && (!f.list || f.merges())) {
					interesting[n] = true
					changed = true
					break
				}
			}
		}
	}

	type out struct {
		T string   `json:"t,omitempty"`
		M string   `json:"m,omitempty"`
		E string   `json:"e,omitempty"`
		S string   `json:"s,omitempty"`
		K []string `json:"k,omitempty"`
	}
	definitions := map[string]map[string]out{}
	for n := range interesting {
		props := map[string]out{}
		for k, f := range defs[n] {
			switch {
			case f.merges():
				o := out{S: f.strategy, K: f.keys}
				if o.K == nil {
					o.K = []string{}
				}
				if interesting[f.ref] {
					o.E = short(f.ref)
				}
				props[k] = o
			case f.list:
				// lists without a merge strategy are replaced whole: nothing to record
			case f.mapRef != "":
				if interesting[f.mapRef] {
					props[k] = out{M: short(f.mapRef)}
				} else {
					props[k] = out{}
				}
			case f.ref != "":
				if interesting[f.ref] {
					props[k] = out{T: short(f.ref)}
				} else {
					props[k] = out{}
				}
			}
		}
		definitions[short(n)] = props
	}
	kindDefs := map[string]string{}
	opaque := []string{}
	for k, n := range kinds {
		if interesting[n] {
			kindDefs[k] = short(n)
		} else {
			opaque = append(opaque, k)
		}
	}
	sort.Strings(opaque)
	data, err := json.Marshal(map[string]interface{}{"definitions": definitions, "kinds": kindDefs, "opaqueKinds": opaque})
	if err != nil {
		panic(err)
	}
	// encoding/json escapes <, > and & by default; none occur in these names.
	k := `// Generated from the Kubernetes OpenAPI document built into kustomize's kyaml (see go.mod in
// schema-gen/ for the version; kyaml v0.18.1 is kustomize v5.5.0 and carries Kubernetes v1.21.2)
// by src/manifests/patch/schema-gen. Do not edit by hand.
//
// Only what strategic merge needs is kept: for each definition, the fields that lead to lists
// with a "merge" patch strategy (s: strategy, k: merge keys as kyaml reads them, e: element
// definition), nested definitions (t: definition of a map field, m: definition of the values of
// a string-keyed map) and, as {}, fields whose schema is known but holds nothing to merge.
import type { SchemaTable } from './schema.js';

export const SCHEMA: SchemaTable = ` + string(data) + ";\n"
	if err := os.WriteFile("../schema-data.ts", []byte(k), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}

	// The kinds kustomize knows to be cluster-scoped, by apiVersion: kyaml takes namespaceability
	// from the document's paths, so a kind missing from it (a newer API, a custom resource, a
	// ClusterRole in another group) counts as namespaced.
	clusterScoped := []string{}
	for k := range kinds {
		i := strings.LastIndex(k, "/")
		if openapi.IsCertainlyClusterScoped(yaml.TypeMeta{APIVersion: k[:i], Kind: k[i+1:]}) {
			clusterScoped = append(clusterScoped, k)
		}
	}
	sort.Strings(clusterScoped)
	list, err := json.MarshalIndent(clusterScoped, "", "  ")
	if err != nil {
		panic(err)
	}
	c := `// Generated from the Kubernetes OpenAPI document built into kustomize's kyaml (Kubernetes
// v1.21.2 for kustomize v5.5) by src/manifests/patch/schema-gen. Do not edit by hand.
//
// "apiVersion/kind" of every kind kustomize knows to be cluster-scoped: it gives these no
// namespace and treats every other kind, including kinds it does not know, as namespaced.
export const CLUSTER_SCOPED_KINDS: readonly string[] = ` + string(list) + ";\n"
	if err := os.WriteFile("../../config/cluster-scoped.ts", []byte(c), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
