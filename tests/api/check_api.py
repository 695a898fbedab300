#!/usr/bin/env python3
"""The public C API's header, manual page, export list and tests agree.

Usage:
  check_api.py docs HEADER MANPAGE [VALIDATION_TEST]
      sandbox_runtime(3) against include/sandbox_runtime.h: the functions of
      NAME, the prototypes and typedefs of SYNOPSIS, every enum (names and
      values) and struct (members) shown, and the ERRORS section (one entry
      per function returning int, errno names that exist, every code the
      header mentions for a function, the functions without a code). With
      VALIDATION_TEST (tests/lib/test_validation.c), its table of documented
      codes must list exactly the (function, code) pairs of ERRORS, so that
      the test walks every one.
  check_api.py exports HEADER LIBRARY [VERSION_SCRIPT]
      The library exports exactly the header's functions (nm -D
      --defined-only, or $NM), and the version script lists exactly them.

Prints one "ok"/"not ok" line per check and exits 1 when any failed, 77
(skipped, for meson) when a tool it needs is missing.
"""
import errno
import os
import re
import shutil
import subprocess
import sys

failures = 0
count = 0


def check(cond, name, detail=""):
    global failures, count
    count += 1
    print(("ok" if cond else "not ok") + " %d - %s" % (count, name))
    if not cond:
        failures += 1
        for line in str(detail).splitlines():
            print("#   " + line)
    return cond


def norm(decl):
    """A declaration with the spacing that does not matter removed."""
    decl = " ".join(decl.split())
    return re.sub(r"\s*([*(),\[\]])\s*", r"\1", decl).strip()


# ---- the header ---------------------------------------------------------------

COMMENT = re.compile(r"/\*.*?\*/", re.S)
PROTO = re.compile(r"^[ \t]*((?:const\s+)?(?:struct\s+srt_\w+|int|void|bool|size_t|char)[\s*]+)(srt_\w+)\s*\(([^;{]*?)\)\s*;",
                   re.M)
TYPEDEF_FN = re.compile(r"typedef\s+[^;]*?\(\s*\*\s*(srt_\w+)\s*\)\s*\([^;]*?\)\s*;", re.S)
BLOCK = re.compile(r"\b(enum|struct)\s+(srt_\w+)\s*\{(.*?)\}\s*;", re.S)
ERRNO_NAME = re.compile(r"\bE[A-Z][A-Z0-9]+\b")


def strip_comments(text):
    # Same length, so that positions found in one are valid in the other.
    return COMMENT.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


def header_api(path):
    text = open(path, encoding="utf-8").read()
    code = strip_comments(text)
    protos, returns, doc_errnos = {}, {}, {}
    comments = [(m.start(), m.end(), m.group(0)) for m in COMMENT.finditer(text)]
    for m in PROTO.finditer(code):
        name = m.group(2)
        protos[name] = norm(m.group(1) + name + "(" + m.group(3) + ")")
        returns[name] = norm(m.group(1))
        # The comment a declaration belongs to: the nearest one before it,
        # with only declarations between them.
        before = [c for c in comments if c[1] <= m.start()]
        if before:
            c = before[-1]
            between = code[c[1]:m.start()]
            if not re.search(r"[{}#]", between) and "typedef" not in between:
                doc_errnos[name] = {e for e in ERRNO_NAME.findall(c[2]) if hasattr(errno, e)}
    typedefs = {m.group(1): norm(m.group(0)) for m in TYPEDEF_FN.finditer(code)}
    blocks = {(m.group(1), m.group(2)): m.group(3) for m in BLOCK.finditer(code)}
    return protos, returns, typedefs, blocks, doc_errnos


# ---- the manual page ------------------------------------------------------------

def unescape(s):
    s = s.replace(r"\-", "-").replace(r"\e", "\\").replace(r"\&", "").replace(r"\(em", "-")
    return s.replace(r"\(bu", "*")


def sections(lines):
    out, cur = {}, None
    for line in lines:
        if line.startswith(".SH "):
            cur = line[4:].strip().strip('"')
            out[cur] = []
        elif cur:
            out[cur].append(line)
    return out


def macro_text(line):
    """The text of a font macro line (.B, .BI, .BR, .I, ...): its
    arguments, unquoted and joined, as they are printed."""
    rest = line.split(None, 1)[1] if " " in line else ""
    return "".join(m.group(1) if m.group(1) is not None else m.group(2)
                   for m in re.finditer(r'"([^"]*)"|(\S+)', rest))


def man_api(path):
    lines = open(path, encoding="utf-8").read().splitlines()
    sec = sections(lines)
    # NAME: "a, b, c \- what"
    name_text = " ".join(sec.get("NAME", []))
    names = {n.strip() for n in name_text.split("\\-")[0].split(",") if n.strip()}
    names.discard("sandbox_runtime")
    # SYNOPSIS: the .BI/.B lines joined, cut at each ';'.
    syn = "".join(unescape(macro_text(l)) for l in sec.get("SYNOPSIS", [])
                  if re.match(r"\.(B|BI|BR|IR|I)\s", l) and "#include" not in l)
    protos, typedefs = {}, {}
    for stmt in syn.split(";"):
        stmt = stmt.strip()
        if not stmt:
            continue
        m = re.search(r"\(\s*\*\s*(srt_\w+)\s*\)", stmt)
        if stmt.startswith("typedef") and m:
            typedefs[m.group(1)] = norm(stmt + ";")
            continue
        m = re.match(r"(.*?)\b(srt_\w+)\s*\((.*)\)$", stmt, re.S)
        if m:
            protos[m.group(2)] = norm(m.group(1) + m.group(2) + "(" + m.group(3) + ")")
    # Every .nf block: the enums and structs shown.
    blocks, inside, buf = {}, False, []
    for l in lines:
        if l.startswith(".nf"):
            inside, buf = True, []
        elif l.startswith(".fi"):
            inside = False
            text = strip_comments(unescape("\n".join(buf)))
            for m in BLOCK.finditer(text):
                blocks[(m.group(1), m.group(2))] = m.group(3)
        elif inside and not l.startswith("."):
            buf.append(l)
    # ERRORS: ".SS names" then ".TP" / ".B ENAME" entries.
    # A heading that is not a list of functions ("Functions without a
    # code") says what the functions it names do with NULL.
    errors, no_code, cur, in_no_code = {}, set(), None, False
    lines_e = sec.get("ERRORS", [])
    for i, l in enumerate(lines_e):
        if l.startswith(".SS"):
            heading = unescape(l[3:].strip().strip('"'))
            fns = [f.strip() for f in heading.split(",")]
            cur = fns if all(re.fullmatch(r"srt_\w+", f) for f in fns) else None
            in_no_code = cur is None
            continue
        if cur is None:
            if in_no_code:
                no_code |= set(re.findall(r"\bsrt_\w+", unescape(l)))
            continue
        if l.startswith(".TP") and i + 1 < len(lines_e):
            m = re.match(r"\.B\s+(E[A-Z0-9]+)\s*$", lines_e[i + 1])
            if m:
                for f in cur:
                    errors.setdefault(f, set()).add(m.group(1))
    return names, protos, typedefs, blocks, errors, no_code


def members(body):
    """struct members or enum entries, normalized, in order."""
    body = strip_comments(body)
    if "=" in body or "," in body and ";" not in body:
        return [norm(x) for x in body.split(",") if x.strip()]
    return [norm(x) for x in body.split(";") if x.strip()]


# ---- the validation test's table ------------------------------------------------

def test_table(path):
    text = open(path, encoding="utf-8").read()
    m = re.search(r"documented\[\]\s*=\s*\{(.*?)\n\};", text, re.S)
    if not m:
        return None
    pairs = set()
    for fn, code in re.findall(r'\{\s*"(srt_\w+)"\s*,\s*"(E[A-Z0-9]+)"', m.group(1)):
        pairs.add((fn, code))
    return pairs


def cmd_docs(header, manpage, validation=None):
    h_protos, h_returns, h_typedefs, h_blocks, h_doc_errnos = header_api(header)
    m_names, m_protos, m_typedefs, m_blocks, m_errors, m_no_code = man_api(manpage)
    h_names = set(h_protos)
    check(len(h_names) > 20, "the header declares the API's functions (%d found)" % len(h_names))
    check(m_names == h_names, "NAME lists exactly the header's functions",
          "only in the header: %s\nonly in NAME: %s" % (sorted(h_names - m_names), sorted(m_names - h_names)))
    check(set(m_protos) == h_names, "SYNOPSIS declares exactly the header's functions",
          "only in the header: %s\nonly in SYNOPSIS: %s" % (sorted(h_names - set(m_protos)),
                                                          sorted(set(m_protos) - h_names)))
    diff = ["header:   %s\nSYNOPSIS: %s" % (h_protos[n], m_protos[n])
            for n in sorted(h_names & set(m_protos)) if h_protos[n] != m_protos[n]]
    check(not diff, "SYNOPSIS prototypes are the header's", "\n".join(diff))
    check(m_typedefs == h_typedefs, "SYNOPSIS typedefs are the header's",
          "header: %s\nSYNOPSIS: %s" % (h_typedefs, m_typedefs))
    for kind in ("enum", "struct"):
        h = {k[1] for k in h_blocks if k[0] == kind}
        m = {k[1] for k in m_blocks if k[0] == kind}
        check(h == m, "the manual shows every %s of the header, and no other" % kind,
              "only in the header: %s\nonly in the manual: %s" % (sorted(h - m), sorted(m - h)))
        for name in sorted(h & m):
            a, b = members(h_blocks[(kind, name)]), members(m_blocks[(kind, name)])
            check(a == b, "%s %s: the same %s in both" % (kind, name, "values" if kind == "enum" else "members"),
                  "header: %s\nmanual: %s" % (a, b))
    int_fns = {n for n in h_names if h_returns[n] == "int"}
    check(set(m_errors) == int_fns, "ERRORS has an entry for every function returning int, and no other",
          "missing: %s\nextra: %s" % (sorted(int_fns - set(m_errors)), sorted(set(m_errors) - int_fns)))
    bad = sorted({(f, e) for f, es in m_errors.items() for e in es if not hasattr(errno, e)})
    check(not bad, "every code in ERRORS is an errno name", bad)
    missing = sorted({(f, e) for f, es in h_doc_errnos.items() if f in int_fns
                      for e in es if e not in m_errors.get(f, set())})
    check(not missing, "every code the header mentions for a function is in its ERRORS entry", missing)
    others = h_names - int_fns
    check(m_no_code == others, "ERRORS says what each function without a code does with NULL",
          "missing: %s\nextra: %s" % (sorted(others - m_no_code), sorted(m_no_code - others)))
    if validation:
        pairs = test_table(validation)
        documented = {(f, e) for f, es in m_errors.items() for e in es}
        if check(pairs is not None, "%s has a table documented[]" % os.path.basename(validation)):
            check(pairs == documented, "its table lists exactly the codes of ERRORS",
                  "not in the test: %s\nnot in the manual: %s" % (sorted(documented - pairs),
                                                                 sorted(pairs - documented)))


def cmd_exports(header, library, version_script=None):
    h_protos = header_api(header)[0]
    h_names = set(h_protos)
    nm = os.environ.get("NM") or shutil.which("nm")
    if not nm:
        print("# nm not found: skipped")
        sys.exit(77)
    out = subprocess.run([nm, "-D", "--defined-only", library], check=True, capture_output=True,
                         text=True).stdout
    exported = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] != "A":   # A: the version node itself
            exported.add(parts[2].split("@")[0])
    check(exported == h_names, "%s exports exactly the header's functions" % os.path.basename(library),
          "exported, not in the header: %s\nin the header, not exported: %s" % (sorted(exported - h_names),
                                                                             sorted(h_names - exported)))
    if version_script:
        text = strip_comments(open(version_script, encoding="utf-8").read())
        m = re.search(r"global:(.*?)local:", text, re.S)
        listed = [x.strip() for x in (m.group(1) if m else "").split(";") if x.strip()]
        check(not any(ch in x for x in listed for ch in "*?["),
              "the version script names functions, no patterns", [x for x in listed if re.search(r"[*?\[]", x)])
        check(set(listed) == h_names, "the version script lists exactly the header's functions",
              "listed, not in the header: %s\nin the header, not listed: %s" % (sorted(set(listed) - h_names),
                                                                            sorted(h_names - set(listed))))


def main(argv):
    if len(argv) >= 4 and argv[1] == "docs":
        cmd_docs(*argv[2:5])
    elif len(argv) >= 4 and argv[1] == "exports":
        cmd_exports(*argv[2:5])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    print("1..%d" % count)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
