"""Every public name has a numpydoc docstring that matches its signature, and its examples run.

Issue 30: "every public name has a numpydoc docstring with Parameters, Returns and shapes (a test
checks it)".  The docstrings are parsed with numpydoc's own :mod:`numpydoc.docscrape` (the parser the
API reference is built with), so a section numpydoc cannot read fails here rather than rendering
wrongly on the site.
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import doctest
import inspect
import sys
import typing
import warnings

import numpy as np
import pytest
from _pytest import doctest as _pytest_doctest
from numpydoc.docscrape import ClassDoc, FunctionDoc

import linkernel

PUBLIC = sorted(n for n in linkernel.__all__ if n != "__version__")
OBJECTS = {name: getattr(linkernel, name) for name in PUBLIC}
FUNCTIONS = [n for n, o in OBJECTS.items() if inspect.isfunction(o)]
EXCEPTIONS = [n for n, o in OBJECTS.items() if inspect.isclass(o) and issubclass(o, (Exception, Warning))]
CLASSES = [n for n, o in OBJECTS.items() if inspect.isclass(o) and n not in EXCEPTIONS]


def _parse(obj):
    """numpydoc's parse of ``obj``'s docstring; a section numpydoc does not know is an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        if inspect.isclass(obj):
            # show_class_members=False: numpydoc would otherwise fill Attributes from the class
            # members itself, and an undocumented field would pass
            return ClassDoc(obj, config={"show_class_members": False})
        return FunctionDoc(obj)


def _names(section) -> list[str]:
    """The names a Parameters/Attributes section documents (``a, b : int`` documents a and b)."""
    return [part.strip() for item in section for part in item.name.split(",") if part.strip()]


def test_the_public_names_are_all_covered():
    # the three groups partition __all__: a new kind of public object must be given a rule here
    assert sorted(FUNCTIONS + EXCEPTIONS + CLASSES) == PUBLIC
    assert len(FUNCTIONS) >= 20 and len(CLASSES) >= 15 and len(EXCEPTIONS) >= 9


@pytest.mark.parametrize("name", PUBLIC)
def test_summary_line(name):
    doc = _parse(OBJECTS[name])
    summary = " ".join(doc["Summary"]).strip()
    assert summary, f"{name} has no summary line"
    assert len(doc["Summary"]) <= 3, f"{name}: the summary is one sentence; put the rest in the extended summary"


@pytest.mark.parametrize("name", FUNCTIONS)
def test_function_parameters_match_the_signature(name):
    fn = OBJECTS[name]
    doc = _parse(fn)
    sig = inspect.signature(fn)
    expected = []
    for p in sig.parameters.values():
        if p.kind is p.VAR_POSITIONAL:
            expected.append("*" + p.name)
        elif p.kind is p.VAR_KEYWORD:
            expected.append("**" + p.name)
        else:
            expected.append(p.name)
    documented = _names(doc["Parameters"])
    assert documented == expected, f"{name}: Parameters {documented} but the signature has {expected}"
    for item in doc["Parameters"]:
        assert item.type.strip(), f"{name}: parameter {item.name} has no type"
        assert " ".join(item.desc).strip(), f"{name}: parameter {item.name} has no description"


@pytest.mark.parametrize("name", FUNCTIONS)
def test_function_returns_section(name):
    doc = _parse(OBJECTS[name])
    assert doc["Returns"], f"{name} has no Returns section"
    for item in doc["Returns"]:
        assert (item.type or item.name).strip() and " ".join(item.desc).strip(), \
            f"{name}: a Returns entry needs a type and a description"


@pytest.mark.parametrize("name", FUNCTIONS)
def test_function_annotations(name):
    # every parameter and the return value are annotated (py.typed promises it to type checkers)
    sig = inspect.signature(OBJECTS[name])
    missing = [p.name for p in sig.parameters.values() if p.annotation is inspect.Parameter.empty]
    assert not missing, f"{name}: parameters without a type hint: {missing}"
    assert sig.return_annotation is not inspect.Signature.empty, f"{name}: no return annotation"


@pytest.mark.parametrize("name", FUNCTIONS)
def test_function_annotations_resolve(name):
    # the hints are strings (``from __future__ import annotations``); each must name something real,
    # with the module's ``if TYPE_CHECKING:`` imports run as a type checker would
    fn = inspect.unwrap(OBJECTS[name])
    module = sys.modules[fn.__module__]
    namespace = dict(vars(module))
    for node in ast.parse(inspect.getsource(module)).body:
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            exec(compile(ast.Module(body=node.body, type_ignores=[]), module.__file__, "exec"), namespace)
    hints = typing.get_type_hints(fn, globalns=namespace)
    assert set(hints) == set(inspect.signature(fn).parameters) | {"return"}


@pytest.mark.parametrize("name", PUBLIC)
def test_arrays_have_shapes(name):
    # an array in Parameters, Returns or Attributes states its shape, e.g. ``numpy.ndarray, shape (T*P, T*P)``
    doc = _parse(OBJECTS[name])
    for section in ("Parameters", "Returns", "Attributes"):
        for item in doc[section]:
            if "ndarray" in item.type or "array_like" in item.type:
                text = f"{item.type} " + " ".join(item.desc)
                assert "shape" in text, f"{name}: {section} entry {item.name!r} is an array without a shape"


@pytest.mark.parametrize("name", FUNCTIONS)
def test_function_raises_section_names_real_exceptions(name):
    doc = _parse(OBJECTS[name])
    for item in doc["Raises"]:
        exc = item.type or item.name
        for part in exc.replace(" or ", ",").split(","):
            part = part.strip()
            known = part in OBJECTS or isinstance(getattr(builtins, part, None), type)
            assert known, f"{name}: Raises names {part!r}, which is neither a builtin nor a public error"


@pytest.mark.parametrize("name", [n for n in CLASSES if dataclasses.is_dataclass(OBJECTS[n])])
def test_dataclass_fields_are_documented(name):
    cls = OBJECTS[name]
    doc = _parse(cls)
    documented = set(_names(doc["Attributes"])) | set(_names(doc["Parameters"]))
    fields = [f.name for f in dataclasses.fields(cls) if not f.name.startswith("_")]
    missing = [f for f in fields if f not in documented]
    assert not missing, f"{name}: fields not in Parameters/Attributes: {missing}"
    for item in list(doc["Attributes"]) + list(doc["Parameters"]):
        assert " ".join(item.desc).strip(), f"{name}: {item.name} has no description"


@pytest.mark.parametrize("name", EXCEPTIONS)
def test_errors_say_when_they_are_raised(name):
    doc = _parse(OBJECTS[name])
    text = " ".join(doc["Summary"] + doc["Extended Summary"])
    assert len(text.split()) >= 8, f"{name}: say when it is raised"


#: examples that take more than a few seconds (a figure, the whole report): run with ``-m slow``
SLOW_EXAMPLES = {"make_figure", "run_report"}


def _examples():
    """(name, doctest) for every public object's docstring that has examples."""
    finder = doctest.DocTestFinder(recurse=False)
    out = []
    for name in PUBLIC:
        obj = OBJECTS[name]
        for test in finder.find(inspect.unwrap(obj) if inspect.isfunction(obj) else obj, name=name,
                                globs={"lk": linkernel, "np": np}):
            if test.examples:
                marks = [pytest.mark.slow] if name in SLOW_EXAMPLES else []
                out.append(pytest.param(test, id=name, marks=marks))
    return out


EXAMPLES = _examples()


def test_examples_exist():
    # most public functions show a call; the classes show theirs on the function that makes them
    with_examples = {p.id for p in EXAMPLES}
    assert len(with_examples & set(FUNCTIONS)) >= len(FUNCTIONS) * 3 // 4, sorted(set(FUNCTIONS) - with_examples)


@pytest.mark.parametrize("test", EXAMPLES)
def test_examples_run(test):
    # NUMBER (pytest's doctest flag): a float in the expected output matches to the digits it shows
    number = doctest.register_optionflag("NUMBER")
    runner = doctest.DocTestRunner(checker=_pytest_doctest._get_checker(),
                                   optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE | number)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = runner.run(test, out=lambda s: pytest.fail(s, pytrace=False))
    assert result.failed == 0 and result.attempted > 0
