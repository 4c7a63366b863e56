"""Rewrites the table between a file's `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` markers."""

import re


def write_table(path, name, table):
    text = open(path).read()
    marked = re.compile(rf"(<!-- bench:{name} -->\n).*?(<!-- /bench:{name} -->)", re.S)
    if not marked.search(text):
        raise SystemExit(f"{path} has no bench:{name} markers")
    open(path, "w").write(marked.sub(lambda m: m.group(1) + table + "\n" + m.group(2), text))
