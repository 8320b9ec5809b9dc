#!/usr/bin/env python3
"""check-layers.py: the layering the build cannot see, checked over the sources and the libraries.

  scripts/check-layers.py includes         every #include "…" points down or sideways within a
                                           layer, never up, never into another layer's internals,
                                           never through a path; inside a layer the files form
                                           no circle (x.c including y.h, directly or through
                                           internal headers, means x uses y); no two
                                           headers share a file name.
  scripts/check-layers.py symbols LIB…     every symbol a layer's library exports carries one of
                                           that layer's prefixes (nm).

The table below is the README's Layout table; change both together.
"""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name: (folder, prefixes of exported symbols, layers it may include)
LAYERS = {
    "base": ("base", ("sb_",), ()),
    "protocol": ("protocol", ("eiop_", "siop_", "ws_", "rdap_"), ("base",)),
    "core": ("server/core", ("eio_", "sio_"), ("base", "protocol")),
    "cluster": ("server/cluster", ("rc_", "cl_"), ("base", "protocol", "core")),
    "helpdesk": ("server/helpdesk", ("hd_",), ("base", "protocol", "core", "cluster")),
    "daemon": ("server/daemon", ("sbd_",), ("base", "protocol", "core")),
}
# The binaries on top may include any layer's public headers.
TOPS = ("server/main.c", "examples")

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def sources(folder):
    for base, _, files in os.walk(os.path.join(ROOT, folder)):
        for f in sorted(files):
            if f.endswith((".c", ".h")):
                yield os.path.join(base, f)


def public_headers():
    """header file name -> layer, for every layer's include/ folder."""
    out = {}
    for name, (folder, _, _) in LAYERS.items():
        inc = os.path.join(ROOT, folder, "include")
        for f in os.listdir(inc) if os.path.isdir(inc) else ():
            out[f] = name
    return out


def layer_of(path):
    rel = os.path.relpath(path, ROOT)
    for name, (folder, _, _) in LAYERS.items():
        if rel.startswith(folder + "/"):
            return name
    return None


def unit_of(path):
    """A .c and its .h are one unit of the circle check (x_internal.h belongs to no .c)."""
    return os.path.splitext(os.path.basename(path))[0]


def find_circle(edges):
    seen, stack = {}, []

    def visit(n):
        seen[n] = 1
        stack.append(n)
        for m in sorted(edges.get(n, ())):
            if seen.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in seen:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        seen[n] = 2
        return None

    for n in sorted(edges):
        if n not in seen:
            found = visit(n)
            if found:
                return found
    return None


def check_includes():
    errors = []
    public = public_headers()
    names = {}
    for name, (folder, _, _) in LAYERS.items():
        for path in sources(folder):
            if path.endswith(".h"):
                names.setdefault(os.path.basename(path), []).append(os.path.relpath(path, ROOT))
    for f, where in sorted(names.items()):
        if len(where) > 1:
            errors.append("two headers named %s: %s" % (f, ", ".join(where)))

    for name, (folder, _, allowed) in LAYERS.items():
        files = {os.path.basename(p): p for p in sources(folder)}
        internal = {f for f, p in files.items() if f.endswith(".h") and "/include/" not in p}
        direct = {}
        for path in sources(folder):
            rel = os.path.relpath(path, ROOT)
            direct[path] = []
            for inc in INCLUDE.findall(open(path, encoding="utf-8").read()):
                if "/" in inc:
                    errors.append('%s: #include "%s": a path; include by name through the layers\' include folders' % (rel, inc))
                elif inc in files:
                    direct[path].append(inc)
                elif inc not in public:
                    errors.append('%s: #include "%s": no layer has it in its include folder' % (rel, inc))
                elif public[inc] not in allowed:
                    errors.append('%s: #include "%s": %s may not include %s (upward or sideways)' % (rel, inc, name, public[inc]))
        # x.c uses y when it includes y.h, directly or through the layer's internal headers
        # (a public header only shares types, so it is not followed).
        edges = {}
        for path in (p for p in direct if p.endswith(".c")):
            seen, todo = set(), list(direct[path])
            while todo:
                h = todo.pop()
                if h in seen or h not in internal:
                    continue
                seen.add(h)
                todo.extend(direct[files[h]])
                if unit_of(h) != unit_of(path):
                    edges.setdefault(unit_of(path), set()).add(unit_of(h))
        circle = find_circle(edges)
        if circle:
            errors.append("%s: includes go round in a circle: %s" % (folder, " -> ".join(circle)))

    for top in TOPS:
        paths = [os.path.join(ROOT, top)] if top.endswith(".c") else list(sources(top))
        for path in paths:
            for inc in INCLUDE.findall(open(path, encoding="utf-8").read()):
                if "/" in inc or inc not in public and not os.path.exists(os.path.join(os.path.dirname(path), inc)):
                    errors.append('%s: #include "%s": not a public header' % (os.path.relpath(path, ROOT), inc))
    return errors


def check_symbols(libs):
    errors = []
    for lib in libs:
        name = os.path.basename(lib)[len("libsb_"):-len(".a")]
        if name not in LAYERS:
            errors.append("%s: not a layer's library" % lib)
            continue
        prefixes = LAYERS[name][1]
        out = subprocess.run(["nm", "-g", "--defined-only", lib], check=True, capture_output=True, text=True).stdout
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] in "TDBRCVW" and not parts[2].startswith(prefixes):
                errors.append("%s exports %s (prefixes of %s: %s)" % (os.path.basename(lib), parts[2], name, " ".join(prefixes)))
    return errors


def main(argv):
    if len(argv) >= 2 and argv[1] == "includes":
        errors = check_includes()
    elif len(argv) >= 3 and argv[1] == "symbols":
        errors = check_symbols(argv[2:])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    for e in errors:
        print(e, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
