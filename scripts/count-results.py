#!/usr/bin/env python3
"""Counts passed, failed and skipped tests from a meson test log or a JUnit file.

Usage: count-results.py meson BUILD_DIR | count-results.py junit FILE
Prints "PASSED FAILED SKIPPED". A meson test that is a cmocka program counts
its cmocka cases; one that crashed before its summary counts as one failure.
"""
import json
import os
import re
import sys
import xml.etree.ElementTree as ET

CMOCKA = re.compile(r"^\[  (PASSED|FAILED|SKIPPED) *\] (\d+) test\(s\)", re.M)


def count_meson(build_dir):
    passed = failed = skipped = 0
    log = os.path.join(build_dir, "meson-logs", "testlog.json")
    if not os.path.exists(log):
        return 0, 0, 0
    with open(log, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            entry = json.loads(line)
            output = (entry.get("stdout") or "") + "\n" + (entry.get("stderr") or "")
            counts = {"PASSED": 0, "FAILED": 0, "SKIPPED": 0}
            found = False
            for kind, n in CMOCKA.findall(output):
                counts[kind] += int(n)
                found = True
            result = entry.get("result", "")
            ok = result in ("OK", "EXPECTEDFAIL")
            if found:
                passed += counts["PASSED"]
                failed += counts["FAILED"]
                skipped += counts["SKIPPED"]
                if not ok and counts["FAILED"] == 0:
                    failed += 1
            elif result == "SKIP":
                skipped += 1
            elif ok:
                passed += 1
            else:
                failed += 1
    return passed, failed, skipped


def count_junit(path):
    if not os.path.exists(path):
        return 0, 0, 0
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    tests = failures = errors = skipped = 0
    for s in suites:
        tests += int(s.get("tests", 0))
        failures += int(s.get("failures", 0))
        errors += int(s.get("errors", 0))
        skipped += int(s.get("skipped", 0))
    return tests - failures - errors - skipped, failures + errors, skipped


def main():
    kind, arg = sys.argv[1], sys.argv[2]
    p, f, s = count_meson(arg) if kind == "meson" else count_junit(arg)
    print(p, f, s)


if __name__ == "__main__":
    main()
