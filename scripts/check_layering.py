#!/usr/bin/env python3
"""Checks the dependencies between kess's Bazel packages against
scripts/layering.txt, and that the packages of shipping (non-testonly)
rules form no cycle.

Usage: scripts/check_layering.py [--rules scripts/layering.txt]
                                 [--query-xml FILE]

Without --query-xml it runs `bazel query 'kind(rule, //...)' --output=xml`
in the workspace. Prints every forbidden dependency as
  FORBIDDEN //pkg:rule -> //other:dep (lib rule of pkg may depend on: ...)
and every cycle, and exits 1 if there is any; prints a one-line summary
and exits 0 otherwise.
"""

import argparse
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Pattern:
    """A package path, or a path ending in "/..." (itself and below)."""

    def __init__(self, text):
        self.text = text
        self.recursive = text.endswith("/...")
        self.path = text[:-4] if self.recursive else text

    def matches(self, package):
        if package == self.path:
            return True
        return self.recursive and package.startswith(self.path + "/")

    def specificity(self):
        # Exact beats recursive on the same path; longer paths beat shorter.
        return (len(self.path.split("/")), 0 if self.recursive else 1)


def parse_rules(path):
    rules = {"lib": [], "test": []}
    with open(path) as f:
        for number, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            head, sep, tail = line.partition(":")
            parts = head.split()
            if not sep or len(parts) != 2 or parts[0] not in rules:
                sys.exit(f"{path}:{number}: expected "
                         f"'<lib|test> <package> : <allowed> ...', got {line!r}")
            rules[parts[0]].append(
                (Pattern(parts[1]), [Pattern(p) for p in tail.split()]))
    return rules


def best_rule(rule_list, package):
    matching = [r for r in rule_list if r[0].matches(package)]
    if not matching:
        return None
    return max(matching, key=lambda r: r[0].specificity())


def load_graph(xml_text):
    """{label: (package, is_test, [dep labels])} for every rule in //..."""
    root = ET.fromstring(xml_text)
    rules = {}
    for rule in root.iter("rule"):
        name = rule.get("name")
        testonly = any(
            b.get("name") == "testonly" and b.get("value") == "true"
            for b in rule.findall("boolean"))
        is_test = testonly or rule.get("class", "").endswith("_test")
        inputs = [i.get("name") for i in rule.findall("rule-input")]
        package = name[2:].split(":", 1)[0]
        rules[name] = (package, is_test, inputs)
    # Only edges to rules of this workspace count (not source files, not
    # @bazel_tools).
    return {
        name: (pkg, is_test, [d for d in deps if d in rules])
        for name, (pkg, is_test, deps) in rules.items()
    }


def package_of(label):
    return label[2:].split(":", 1)[0]


def find_forbidden(graph, rules):
    problems = []
    unruled = set()
    for name, (package, is_test, deps) in sorted(graph.items()):
        lib = best_rule(rules["lib"], package)
        test = best_rule(rules["test"], package) if is_test else None
        if lib is None and test is None:
            unruled.add(package)
            continue
        allowed = list(lib[1]) if lib else []
        if test:
            allowed += [p for p in test[1]
                        if p.text not in {a.text for a in allowed}]
        for dep in deps:
            dep_package = package_of(dep)
            if dep_package == package or dep_package.startswith("third_party"):
                continue
            if any(p.matches(dep_package) for p in allowed):
                continue
            kind = "test" if is_test else "lib"
            problems.append(
                f"FORBIDDEN {name} -> {dep} ({kind} rules of {package} may "
                f"depend on: {' '.join(p.text for p in allowed)})")
    for package in sorted(unruled):
        if not package.startswith("third_party"):
            problems.append(f"NO RULE for package {package}: add it to "
                            f"scripts/layering.txt")
    return problems


def find_cycles(graph):
    """Cycles between the packages of non-testonly rules (Tarjan)."""
    edges = {}
    for name, (package, is_test, deps) in graph.items():
        if is_test:
            continue
        edges.setdefault(package, set())
        for dep in deps:
            dep_package = package_of(dep)
            if dep_package != package and not graph[dep][1]:
                edges[package].add(dep_package)
    index, low, on_stack, stack, sccs = {}, {}, set(), [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                scc.append(w)
                if w == v:
                    break
            if len(scc) > 1:
                sccs.append(sorted(scc))

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return [f"CYCLE between packages: {' <-> '.join(c)}" for c in sccs]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rules", default=os.path.join(ROOT, "scripts",
                                                        "layering.txt"))
    parser.add_argument("--query-xml",
                        help="bazel query XML output to read instead")
    args = parser.parse_args()
    rules = parse_rules(args.rules)
    if args.query_xml:
        with open(args.query_xml) as f:
            xml_text = f.read()
    else:
        xml_text = subprocess.run(
            ["bazel", "query", "--noshow_progress", "kind(rule, //...)",
             "--output=xml"],
            cwd=ROOT, check=True, capture_output=True, text=True).stdout
    graph = load_graph(xml_text)
    problems = find_forbidden(graph, rules) + find_cycles(graph)
    for problem in problems:
        print(problem)
    if problems:
        print(f"layering: {len(problems)} problem(s) in {len(graph)} rules")
        return 1
    print(f"layering: {len(graph)} rules, every dependency allowed, "
          f"no package cycle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
