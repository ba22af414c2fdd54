#!/usr/bin/env python3
"""Which .cc files Clang's thread-safety analysis can find anything in.

  scripts/thread_safety_select.py GEN_DIR LIST OUT
  scripts/thread_safety_select.py --marks FILE...

Reads the .cc paths of LIST (one a line, relative to the working directory,
the repo root) and writes to OUT those whose translation unit can hold a
-Wthread-safety finding; scripts/check_thread_safety.sh analyses only them.
With --marks, prints each FILE whose own text marks it (see below) and the
first match.

Why the others cannot: the analysis reports only (a) a misused
thread-safety attribute, or (b) in a function body, a use of a declaration
that carries such an attribute (a guarded variable, a function that
acquires, releases or requires a capability, a member of a capability
type) that breaks its contract; and clang never reports a warning located
in a system header. So a finding is in a repo file (a .cc, a header of the
repo, a generated .pb.h), and that file spells an attribute or a macro
that expands to one, or names an annotated declaration. An annotated
declaration of the repo is in a repo header the translation unit includes,
and that header spells its attribute; a macro is defined in a file the
translation unit includes; the annotated public declarations of the
system headers are Abseil's and protobuf's mutexes and spin locks (and
two internal types of Abseil's Cord sampler) and their lock methods. MARK below matches all of these spellings.

A translation unit is selected when the .cc, or a repo or generated header
it includes directly or transitively, matches MARK. Includes are resolved
as clang does with -I. -I GEN_DIR (a quoted include first next to the
including file); one that resolves to neither is a system header and is
not followed (its annotations are covered by MARK's names). Over-approximate
on purpose: MARK also matches comments, every #include line counts whatever
#if surrounds it, and a computed include (#include MACRO) or an unreadable
file selects the translation unit.
"""

import os
import re
import sys

INCLUDE = re.compile(
    r'^[ \t]*#[ \t]*(?:include|include_next|import)\b[ \t]*(.*)$', re.M)

MARK = re.compile(
    # Clang's thread-safety attributes, however they are spelled (a macro
    # that expands to one is defined in a file that contains it).
    r'\b(guarded_by|pt_guarded_by|guarded_var|pt_guarded_var'
    r'|acquired_before|acquired_after|capability|shared_capability'
    r'|lockable|scoped_lockable'
    r'|(acquire|release|try_acquire|assert|requires)(_shared|_generic)?'
    r'_capability'
    r'|(exclusive|shared)_(trylock|lock)_function|unlock_function'
    r'|(exclusive|shared)_locks_required|locks_excluded|lock_returned'
    r'|assert_(exclusive|shared)_lock|no_thread_safety_analysis)\b'
    # The system headers' macros for them (Abseil's, protobuf's).
    r'|\b(ABSL|PROTOBUF|GOOGLE_PROTOBUF)_[A-Z_]*(GUARDED|LOCK|ACQUIRE'
    r'|CAPABILITY|THREAD_SAFETY|THREAD_ANNOTATION|TS_UNCHECKED|TS_FIXME)'
    r'|\bGOOGLE_PROTOBUF_RELEASE\b'
    # gtest's (empty) lock macros and those naming its own Mutex.
    r'|\bGTEST_[A-Z_]*(MUTEX|LOCK)'
    # The system headers' annotated types (absl::Mutex, MutexLock,
    # ReaderMutexLock, ..., base_internal::SpinLock, protobuf's
    # WrappedMutex, the Cord sampler's internal CordzInfo and
    # CordzUpdateScope) and their annotated methods.
    r'|Mutex|SpinLock|CordzInfo|CordzUpdateScope'
    r'|\b(Lock|ReaderLock|WriterLock|TryLock|ReaderTryLock|WriterTryLock'
    r'|Unlock|ReaderUnlock|WriterUnlock|LockWhen|ReaderLockWhen'
    r'|WriterLockWhen|LockWhenWithTimeout|LockWhenWithDeadline'
    r'|ReaderLockWhenWithTimeout|ReaderLockWhenWithDeadline'
    r'|WriterLockWhenWithTimeout|WriterLockWhenWithDeadline'
    r'|AssertHeld|AssertReaderHeld|AssertNotHeld)\b')


class Selector:
    def __init__(self, gen_dir):
        self.root = os.getcwd()
        self.gen = os.path.abspath(gen_dir)
        self.scanned = {}  # path -> (marked, [included repo files])

    def scan(self, path):
        if path in self.scanned:
            return self.scanned[path]
        try:
            with open(path, errors='replace') as f:
                text = f.read()
        except OSError:
            self.scanned[path] = (True, [])  # cannot tell: analyse it
            return self.scanned[path]
        marked = MARK.search(text) is not None
        includes = []
        for m in INCLUDE.finditer(text):
            arg = m.group(1).strip()
            if arg.startswith('"') and arg.find('"', 1) > 0:
                name = arg[1:arg.find('"', 1)]
                dirs = [os.path.dirname(path), self.root, self.gen]
            elif arg.startswith('<') and arg.find('>') > 0:
                name = arg[1:arg.find('>')]
                dirs = [self.root, self.gen]
            else:
                marked = True  # a computed include: cannot tell
                continue
            for d in dirs:
                p = os.path.normpath(os.path.join(d, name))
                if os.path.isfile(p):
                    includes.append(p)
                    break
        self.scanned[path] = (marked, includes)
        return self.scanned[path]

    def selected(self, tu):
        todo, seen = [os.path.abspath(tu)], set()
        while todo:
            path = todo.pop()
            if path in seen:
                continue
            seen.add(path)
            marked, includes = self.scan(path)
            if marked:
                return True
            todo.extend(includes)
        return False


def main(argv):
    if len(argv) >= 2 and argv[1] == '--marks':
        for path in argv[2:]:
            with open(path, errors='replace') as f:
                m = MARK.search(f.read())
            if m:
                print(f'{path}: {m.group(0)}')
        return 0
    if len(argv) != 4:
        print(__doc__.split('\n\n')[1], file=sys.stderr)
        return 2
    gen_dir, listing, out_path = argv[1:]
    selector = Selector(gen_dir)
    with open(listing) as f:
        tus = [line.rstrip('\n') for line in f if line.strip()]
    with open(out_path, 'w') as out:
        for tu in tus:
            # A file gone since the list was made: the worker says so.
            if not os.path.exists(tu) or selector.selected(tu):
                out.write(tu + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
