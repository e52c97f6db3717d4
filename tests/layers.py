#!/usr/bin/python3
"""The include graph against the layers of doc/design.md: every file under
src/<folder>/ includes only its own folder and folders of a lower layer, so
no stage includes a higher one and no two folders include each other.
Also checks that the layout block of README.md names every src/ folder and
every top-level folder in the repository, and nothing that is not there.
Prints each offending include with its file and line; exits 1 if any."""
import os
import re
import sys

LAYERS = {
    "mail": 0,
    "common": 1,
    "directory": 2, "spool": 2, "delivery": 2, "filter": 2,
    "smtp": 3,
    "queue": 4,
    "server": 5, "cluster": 5,
    "admin": 6,
    "control": 7,
    "app": 8,
}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/')


LAYOUT_LINE = re.compile(r"^((?:[a-z]+/)?[a-z._]+/)\s{2,}\S")
IGNORED = {"var", "node_modules", "__pycache__"}  # run state and tool output (.gitignore)


def readme_layout(root, src_folders):
    """The README's layout block (its lines "folder/   what it holds")
    against the tree."""
    with open(os.path.join(root, "README.md"), encoding="utf-8") as f:
        listed = {m.group(1).rstrip("/") for m in map(LAYOUT_LINE.match, f) if m}
    tops = {d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d))
            and not d.startswith(("build", "storm-")) and d not in IGNORED and d != ".git"}
    tops.discard("src")
    present = {"src/" + d for d in src_folders} | {d for d in tops if d != "tools"}
    present |= {"tools/" + d for d in os.listdir(os.path.join(root, "tools"))
                if os.path.isdir(os.path.join(root, "tools", d))}
    problems = ["README.md: the layout names %s/, which is not in the tree" % d for d in sorted(listed - present)]
    problems += ["README.md: the layout does not name %s/" % d for d in sorted(present - listed)]
    return problems


def main():
    src = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
    problems = []
    folders = sorted(d for d in os.listdir(src) if os.path.isdir(os.path.join(src, d)))
    for folder in folders:
        if folder not in LAYERS:
            problems.append("src/%s: a folder without a layer in tests/layers.py and doc/design.md" % folder)
            continue
        for root, _, files in os.walk(os.path.join(src, folder)):
            for name in files:
                if not name.endswith((".h", ".cc")):
                    continue
                path = os.path.join(root, name)
                with open(path, encoding="utf-8") as f:
                    for n, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if not m or m.group(1) == folder:
                            continue
                        dep = m.group(1)
                        if dep not in LAYERS:
                            problems.append("%s:%d: includes %s/, which has no layer" % (os.path.relpath(path, src), n, dep))
                        elif LAYERS[dep] >= LAYERS[folder]:
                            problems.append("%s:%d: %s (layer %d) includes %s/ (layer %d)" %
                                            (os.path.relpath(path, src), n, folder, LAYERS[folder], dep, LAYERS[dep]))
    problems += readme_layout(os.path.dirname(src), folders)
    for p in problems:
        print("layers: " + p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
