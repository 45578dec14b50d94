"""The record registry (int8rt/records.py) against everything that restates it: the generated
plan_ops.h, plan.h's params union, the C structs, the Cython struct declarations, plan.c's
switches, the Program kernel list and the numpy reference."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from int8rt import program
from int8rt.records import BY_KERNEL, FLOAT_PARAMS, INT8, KIND, MOVEMENT, RECORDS

ROOT = Path(__file__).resolve().parent.parent
HEADERS = sorted((ROOT / "csrc").rglob("*.h"))
CYTHON = sorted(p for ext in ("pyx", "pxi", "pxd") for p in (ROOT / "int8rt").rglob(f"*.{ext}"))
# the checks against C headers, .pyx files, tools/ and docs/ read the source checkout; against
# an installed package (tests/ copied alone: the Pi chroots of tools/arm/chroot.sh) they skip
needs_source = pytest.mark.skipif(
    not (ROOT / "csrc" / "plan" / "plan.c").is_file() or not CYTHON
    or not (ROOT / "tools" / "gen_records.py").is_file() or not (ROOT / "docs").is_dir(),
    reason="needs the source checkout (csrc/, int8rt/*.pyx, tools/, docs/)")


def _strip_c_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.DOTALL)
    return re.sub(r"//[^\n]*", " ", text)


def _c_constants() -> dict[str, int]:
    """Integer #defines and enum constants with explicit values, over every header."""
    out: dict[str, int] = {}
    for h in HEADERS:
        t = _strip_c_comments(h.read_text())
        out.update({k: int(v) for k, v in re.findall(r"#define\s+(\w+)\s+\(?(\d+)\)?\s*$", t,
                                                     flags=re.MULTILINE)})
        out.update({k: int(v) for k, v in re.findall(r"\b(\w+)\s*=\s*(\d+)\s*[,}]", t)})
    return out


def _fields(decls: list[tuple[str, str]], consts: dict[str, int]) -> list[tuple[str, str, int]]:
    """(type, 'a, b[N]') declarations -> [(name, type, array length or 0)] in order; an array
    of several dimensions (`t[2][8][16]`) counts its elements."""
    out = []
    for ctype, names in decls:
        for item in names.split(","):
            # pointer declarators (`*const *data`) keep the base type: stars are not compared
            m = re.fullmatch(r"\s*(?:\*\s*(?:const\b\s*)?)*(\w+)\s*((?:\[\s*\w+\s*\]\s*)*)",
                             item)
            assert m, f"cannot parse declarator {item!r}"
            dims = [int(consts.get(n, n)) for n in re.findall(r"\[\s*(\w+)\s*\]", m.group(2))]
            out.append((m.group(1), ctype, math.prod(dims) if dims else 0))
    return out


def c_structs() -> dict[str, list[tuple[str, str, int]]]:
    """typedef struct / union { ... } NAME; of every header under csrc/."""
    consts = _c_constants()
    out: dict[str, list[tuple[str, str, int]]] = {}
    for h in HEADERS:
        t = _strip_c_comments(h.read_text())
        for body, name in re.findall(r"typedef\s+(?:struct|union)\s*\w*\s*\{([^{}]*)\}\s*(\w+)\s*;",
                                     t):
            decls = []
            for stmt in body.split(";"):
                # alignment attributes do not change the field list
                stmt = re.sub(r"__attribute__\s*\(\((?:[^()]|\([^()]*\))*\)\)", " ", stmt)
                stmt = " ".join(stmt.split())
                if not stmt:
                    continue
                m = re.fullmatch(r"((?:const\s+)?(?:unsigned\s+)?\w+)\s+(.+)", stmt)
                assert m, f"{h.name}: cannot parse {stmt!r} in {name}"
                decls.append((m.group(1), m.group(2)))
            out[name] = _fields(decls, consts)
    return out


def cython_structs() -> dict[str, tuple[str, list[tuple[str, str, int]]]]:
    """ctypedef struct / union NAME: blocks of the .pyx / .pxi / .pxd files -> (file, fields); an
    opaque `pass` block is left out."""
    consts = _c_constants()
    out = {}
    for f in CYTHON:
        text = f.read_text()
        alias = {a: t for t, a in re.findall(r"cimport\s+(\w+)\s+as\s+(\w+)", text)}
        lines = text.splitlines()
        i = 0
        while i < len(lines):
            m = re.match(r"(\s*)ctypedef\s+(?:struct|union)\s+(\w+)\s*:", lines[i])
            i += 1
            if not m:
                continue
            indent, name, decls = len(m.group(1)), m.group(2), []
            while i < len(lines) and (not lines[i].strip()
                                      or len(lines[i]) - len(lines[i].lstrip()) > indent):
                line = lines[i].split("#")[0].strip()
                i += 1
                if not line or line == "pass":
                    continue
                # a Cython name with a C name string: `int32_t from_ "from"` declares `from`
                line = re.sub(r"\w+\s+\"(\w+)\"", r"\1", line)
                m2 = re.fullmatch(r"((?:const\s+)?(?:unsigned\s+)?\w+)\s+(.+)", line)
                assert m2, f"{f.name}: cannot parse {line!r} in {name}"
                decls.append((alias.get(m2.group(1), m2.group(1)), m2.group(2)))
            if decls:
                out[name] = (f.name, _fields(decls, consts))
    return out


@needs_source
def test_generated_header_is_current():
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_records.py"), "--check"],
                       check=False,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_program_kernels_are_the_records():
    assert program.KERNELS == tuple(r.kernel for r in RECORDS)
    assert len(BY_KERNEL) == len(RECORDS)
    assert [KIND[r.kernel] for r in RECORDS] == list(range(len(RECORDS)))


@needs_source
def test_union_members_and_struct_fields_match_the_c_header():
    structs = c_structs()
    union = {name: ctype for name, ctype, _ in structs["i8_op_params"]}
    for r in RECORDS:
        assert union.get(r.member) == r.struct, (
            f"{r.kernel}: i8_op_params.{r.member} is {union.get(r.member)}, registry says "
            f"{r.struct}")
        if r.fields is None:
            continue
        # a dotted field names a field of a nested struct member: flatten the struct the same way
        flat = []
        for name, ctype, length in structs[r.struct]:
            if any(f.startswith(name + ".") for f in r.fields):
                flat += [(f"{name}.{n}", t, k) for n, t, k in structs[ctype]]
            else:
                flat.append((name, ctype, length))
        assert r.fields == tuple(n for n, _, _ in flat), r.kernel
        lengths = {n: k for n, _, k in flat}
        arrays = tuple(n for n in r.fields if lengths[n])
        assert r.arrays == arrays, f"{r.kernel}: arrays {r.arrays}, C arrays {arrays}"
        consts = _c_constants()
        assert all(lengths[n] == consts["I8_MAX_DIMS"] for n in arrays), r.kernel
        assert not r.arrays or "ndim" in r.fields, r.kernel
        assert {k for k, _ in r.defaults} <= {f.rpartition(".")[2] for f in r.fields}, r.kernel


@needs_source
def test_records_without_fields_are_filled_by_hand():
    """A record without `fields` has its branch in plan.pyx's _fill_params; one with `fields`
    is filled from them and its union member has a table-driven store (_set_member)."""
    src = (ROOT / "int8rt" / "_native" / "plan.pyx").read_text()
    fill = src[src.index("cdef int _fill_params("):src.index("cdef i8_buf_ref _ref(")]
    setter = src[src.index("cdef int _set_member("):src.index("cdef int _fill_params(")]
    by_hand = set(re.findall(r'kernel == "(\w+)"', fill))
    stored = set(re.findall(r'member == "(\w+)"', setter))
    for r in RECORDS:
        if r.fields is None:
            assert r.kernel in by_hand, f"{r.kernel}: no fields and no _fill_params branch"
        else:
            assert r.kernel not in by_hand, f"{r.kernel}: declared with fields, also by hand"
            assert r.member in stored, f"{r.kernel}: union member {r.member} not in _set_member"
    assert stored <= {r.member for r in RECORDS if r.fields is not None}


@needs_source
def test_float_params_are_the_float_fields():
    """records.FLOAT_PARAMS (the params NativePlan lets be fractional) are exactly the float /
    double fields of the params structs (plus the fused add's add_mult), and no field name is
    an integer in one struct and a float in another."""
    structs = c_structs()
    floats, ints = set(), set()
    for s in _param_structs(structs):
        for name, ctype, _ in structs[s]:
            (floats if ctype in ("float", "double") else ints).add(name)
    assert FLOAT_PARAMS == floats | {"add_mult"}
    assert not (floats & ints) and "add_mult" not in ints


def _param_structs(structs) -> set[str]:
    """The structs an op record's params are made of: i8_op_params and what it nests."""
    todo, seen = ["i8_op_params"], set()
    while todo:
        name = todo.pop()
        if name in seen or name not in structs:
            continue
        seen.add(name)
        todo.extend(t for _, t, _ in structs[name])
    return seen


@needs_source
def test_cython_struct_declarations_match_the_c_headers():
    """Every Cython field is the C field of that name and type; the params structs (which the
    binding fills from dicts and copies whole) are declared completely."""
    structs = c_structs()
    complete = _param_structs(structs)
    checked = 0
    for name, (where, fields) in cython_structs().items():
        assert name in structs, f"{where}: {name} is not a struct of csrc/ headers"
        c_fields = set(structs[name])
        wrong = [f for f in fields if f not in c_fields]
        assert not wrong, f"{where}: {name} fields {wrong} differ from C {sorted(c_fields)}"
        if name in complete:
            missing = sorted(c_fields - set(fields))
            assert not missing, f"{where}: {name} lacks C fields {missing}"
        checked += 1
    assert checked >= 20  # the parser found the declarations
    assert len(complete) >= 25


@needs_source
def test_plan_c_handles_every_record():
    """check_params (footprints) and exec_op (the call) have a case for every kind."""
    src = _strip_c_comments((ROOT / "csrc" / "plan" / "plan.c").read_text())
    for fn in ("check_params", "exec_op"):
        start = src.index(f"static {'const char *' if fn == 'check_params' else 'int '}{fn}(")
        body = src[start:src.index("\n}\n", start)]
        cases = set(re.findall(r"case\s+(I8_OP_\w+)\s*:", body))
        missing = [r.kind for r in RECORDS if r.kind not in cases]
        assert not missing, f"{fn} has no case for {missing}"
        unknown = cases - {r.kind for r in RECORDS}
        assert not unknown, f"{fn} has cases for kinds the registry lacks: {unknown}"


def test_int8_records_have_a_reference_kernel():
    from int8rt.reference.kernels import REFERENCE_KERNELS

    for r in RECORDS:
        if r.dtypes in (INT8, MOVEMENT) or r.kernel.endswith("_f32"):
            # conv2d / fc / conv2d_f32 split their consts and params first: call_kernel's cases
            assert r.kernel in REFERENCE_KERNELS or r.kernel in ("conv2d", "fc", "conv2d_f32"), (
                r.kernel)


def test_built_module_has_the_registry_records():
    _native = pytest.importorskip("int8rt._native")
    _native._check_record_kinds()  # also runs at import


def _doc_rows(text: str, header: str) -> list[list[str]]:
    """The rows of the Markdown table whose header line starts with `header`."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


def _kernels_of(cell: str) -> set[str]:
    return {k.strip() for k in re.sub(r"\(.*?\)", "", cell).split(",")}


def test_program_doc_table_lists_every_record():
    rows = _doc_rows(program.__doc__, "| kernel | inputs -> outputs |")
    listed = set().union(*(_kernels_of(r[0]) for r in rows))
    assert listed == set(BY_KERNEL), sorted(listed ^ set(BY_KERNEL))


@needs_source
def test_plan_doc_consts_table_matches_the_records():
    rows = _doc_rows((ROOT / "docs" / "PLAN.md").read_text(), "| kernel | consts (C order) |")
    by_kernel = {k: r[1] for r in rows for k in _kernels_of(r[0])}
    for r in RECORDS:
        if not r.consts:
            continue
        assert r.kernel in by_kernel, f"docs/PLAN.md's consts table lacks {r.kernel}"
        keys = re.findall(r"\b\w+\b", by_kernel[r.kernel])
        order = [keys.index(k) for k, _ in r.consts if k in keys]
        assert len(order) == len(r.consts) and order == sorted(order), (
            f"{r.kernel}: docs/PLAN.md lists {by_kernel[r.kernel]!r}, registry {r.consts}")
