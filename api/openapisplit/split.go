// Package openapisplit derives the two published OpenAPI descriptions from the one the team
// edits, api/openapi-all.yaml (both listeners, each path's listener given by its servers): the
// public listener's (api/openapi.yaml, served at /openapi.yaml, what integrators generate clients
// from) and the internal listener's (api/openapi-internal.yaml, for other PCX services). One
// source keeps shared schemas from drifting apart; two outputs keep internal operations out of
// public clients. Each output keeps only the components it references.
package openapisplit

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// InternalServerURL is the server entry that marks a path of the internal listener.
const InternalServerURL = "http://127.0.0.1:8081"

// Split returns the public and the internal description of the full one.
func Split(all []byte) (public, internal []byte, err error) {
	if public, err = derive(all, false); err != nil {
		return nil, nil, fmt.Errorf("public: %w", err)
	}
	if internal, err = derive(all, true); err != nil {
		return nil, nil, fmt.Errorf("internal: %w", err)
	}
	return public, internal, nil
}

func derive(all []byte, internal bool) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(all, &doc); err != nil {
		return nil, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("not a YAML mapping")
	}
	root := doc.Content[0]
	paths := get(root, "paths")
	if paths == nil {
		return nil, fmt.Errorf("no paths")
	}
	var internalServers *yaml.Node
	for i := 0; i+1 < len(paths.Content); i += 2 {
		item := paths.Content[i+1]
		onPublic, onInternal := listeners(item)
		if onInternal && internalServers == nil {
			internalServers = internalOnly(get(item, "servers"))
		}
		if (internal && !onInternal) || (!internal && !onPublic) {
			paths.Content = append(paths.Content[:i], paths.Content[i+2:]...)
			i -= 2
			continue
		}
		// In its own description a path is on the document's one server.
		del(item, "servers")
	}
	header := "# GENERATED from api/openapi-all.yaml by `go generate ./api`: edit that file, not this one.\n"
	if internal {
		if internalServers == nil {
			return nil, fmt.Errorf("no path is on the internal listener")
		}
		set(root, "servers", internalServers)
		del(root, "webhooks")
		del(root, "security") // each internal operation names its own
		info := get(root, "info")
		set(info, "title", scalar("PCX Public Service: internal listener"))
		set(info, "summary", scalar("Transaction updates from other PCX services, metrics and health, on the private network only."))
		set(info, "description", scalar("The internal listener (`INTERNAL_HTTP_ADDR`, default `127.0.0.1:8081`) of the PCX Public\n"+
			"Service: never exposed publicly. Envelopes, error codes and common rules are those of the\n"+
			"public description (api/openapi.yaml).\n"))
	}
	keepUsedTags(root)
	prune(root)
	var buf bytes.Buffer
	buf.WriteString(header)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), enc.Close()
}

// listeners says which listeners a path item is served on: the document's server (the public
// listener) unless it names its own.
func listeners(item *yaml.Node) (public, internal bool) {
	servers := get(item, "servers")
	if servers == nil {
		return true, false
	}
	for _, s := range servers.Content {
		if u := get(s, "url"); u != nil && u.Value == InternalServerURL {
			internal = true
		} else {
			public = true
		}
	}
	return public, internal
}

func internalOnly(servers *yaml.Node) *yaml.Node {
	out := &yaml.Node{Kind: yaml.SequenceNode}
	for _, s := range servers.Content {
		if u := get(s, "url"); u != nil && u.Value == InternalServerURL {
			out.Content = append(out.Content, s)
		}
	}
	return out
}

// keepUsedTags drops the top-level tags no remaining operation uses.
func keepUsedTags(root *yaml.Node) {
	used := map[string]bool{}
	walk(root, func(key string, n *yaml.Node) {
		if key == "tags" && n.Kind == yaml.SequenceNode {
			for _, t := range n.Content {
				if t.Kind == yaml.ScalarNode {
					used[t.Value] = true
				}
			}
		}
	})
	tags := get(root, "tags")
	if tags == nil {
		return
	}
	kept := tags.Content[:0]
	for _, t := range tags.Content {
		if name := get(t, "name"); name != nil && used[name.Value] {
			kept = append(kept, t)
		}
	}
	tags.Content = kept
}

var localRef = regexp.MustCompile(`^#/components/([^/]+)/([^/]+)$`)

// prune removes the components nothing outside components reaches, directly or through other
// components; security schemes count as reached when a security requirement names them.
func prune(root *yaml.Node) {
	comps := get(root, "components")
	if comps == nil {
		return
	}
	reached := map[string]bool{} // "schemas/Name"
	var queue []*yaml.Node
	mark := func(kind, name string) {
		k := kind + "/" + name
		if reached[k] {
			return
		}
		reached[k] = true
		if n := get(get(comps, kind), name); n != nil {
			queue = append(queue, n)
		}
	}
	visit := func(key string, n *yaml.Node) {
		if key == "$ref" && n.Kind == yaml.ScalarNode {
			if m := localRef.FindStringSubmatch(n.Value); m != nil {
				mark(m[1], m[2])
			}
		}
		if key == "security" && n.Kind == yaml.SequenceNode {
			for _, req := range n.Content {
				for i := 0; i+1 < len(req.Content); i += 2 {
					mark("securitySchemes", req.Content[i].Value)
				}
			}
		}
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "components" {
			walkKey(root.Content[i].Value, root.Content[i+1], visit)
		}
	}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		walk(n, visit)
	}
	for i := 0; i+1 < len(comps.Content); i += 2 {
		kind, section := comps.Content[i].Value, comps.Content[i+1]
		kept := section.Content[:0]
		for j := 0; j+1 < len(section.Content); j += 2 {
			if reached[kind+"/"+section.Content[j].Value] {
				kept = append(kept, section.Content[j], section.Content[j+1])
			}
		}
		section.Content = kept
		if len(kept) == 0 {
			comps.Content = append(comps.Content[:i], comps.Content[i+2:]...)
			i -= 2
		}
	}
}

// walk calls f with every mapping key and its value under n.
func walk(n *yaml.Node, f func(key string, v *yaml.Node)) { walkKey("", n, f) }

func walkKey(key string, n *yaml.Node, f func(key string, v *yaml.Node)) {
	if key != "" {
		f(key, n)
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			walkKey(n.Content[i].Value, n.Content[i+1], f)
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			walkKey("", c, f)
		}
	}
}

func get(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func set(m *yaml.Node, key string, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1] = v
			return
		}
	}
	m.Content = append(m.Content, scalar(key), v)
}

func del(m *yaml.Node, key string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
			return
		}
	}
}

func scalar(s string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
	if strings.Contains(s, "\n") {
		n.Style = yaml.LiteralStyle
	}
	return n
}
