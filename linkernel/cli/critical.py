"""``linkernel critical`` for every architecture: the route that applies to the problem, never another's.

* The RNN on an endpoint task: :func:`linkernel.symbolic.critical.critical_point` (closed form, Landau
  coefficients, tricritical kappa).
* Any other weight-sharing pattern (the DNN included) on an endpoint task:
  :func:`linkernel.symbolic.patterns.pattern_critical_point` (closed-form r_c and lambda_c, the breaking
  group) and :func:`~linkernel.symbolic.patterns.derived_order` (the order from the pattern's quartic).
* Any other problem with a Z2 symmetry (sinusoid, sequence, a data set): the numerical
  :func:`linkernel.theory.special_points.critical_lambda`; the order is not derived there ("unknown").

Every closed form is checked against ``critical_lambda`` where the kernel is small enough
(``T*P <= CHECK_MAX``); a disagreement is a warning.  The JSON has the same keys on every route
(null where a route does not give a quantity): those of ``CriticalPoint.to_dict()`` plus ``arch``,
``method``, ``breaks``, ``lambda_c_numeric`` and ``note``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

#: the numerical cross-check runs where T*P <= CHECK_MAX (a symmetric saddle per bracket step)
CHECK_MAX = 64
#: the numerical route (no closed form) handles T*P <= NUMERIC_MAX
NUMERIC_MAX = 256
#: relative agreement asked of the closed form and the numerical root
AGREE = 1e-7

_RNN_KEYS = ("lambda_c", "rho_c", "order", "beta", "amplitude", "landau", "latex", "r_c", "load_c",
             "branch_stable", "lambda_fold", "kernel_c", "tricritical", "problem", "seconds")


@dataclass(frozen=True, eq=False)
class CriticalAnswer:
    """What ``linkernel critical`` prints: ``fields`` (the JSON) and ``text`` (the summary)."""

    fields: dict
    text: str
    warnings_: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return dict(self.fields)

    def summary(self) -> str:
        return self.text


def _endpoint_q(problem):
    """|yhat|^2 of an endpoint task, or None when the problem is not one (then no closed form applies)."""
    from linkernel.symbolic.symmetric_branch import endpoint_structure
    try:
        return endpoint_structure(problem)
    except ValueError:
        return None


def _numeric(problem, near=None):
    """critical_lambda, or None where the symmetric saddle stays stable (no transition in its search).

    ``near``: the closed-form lambda_c; the search then walks from near/2 to 2 near (the default walk
    stops at lambda = 20, short of large lambda_c such as kappa = 1e4's)."""
    from linkernel.errors import ConvergenceError
    from linkernel.theory.special_points import critical_lambda
    span = {} if near is None else {"lam_min": near / 2, "lam_max": 2 * near}
    try:
        return critical_lambda(problem.with_(lam=1.0), **span)
    except ConvergenceError:
        return None


def _problem_keys(problem) -> dict:
    d = problem.to_dict()
    return {k: d.get(k) for k in ("arch", "T", "P", "w", "v", "u", "kappa")}


def _check(fields: dict, problem, text: list) -> None:
    """Cross-check a closed form against the numerical root (small kernels), in fields and text."""
    if problem.n > CHECK_MAX:
        text.append(f"numerical check: not run (T*P = {problem.n} > {CHECK_MAX})")
        return
    lc = fields["lambda_c"]
    if lc is not None and fields.get("branch_stable") is False:
        text.append("numerical check: not run (the symmetric branch folds before lambda_c: no continued "
                    "symmetric saddle reaches it)")
        return
    num = _numeric(problem, lc)
    fields["lambda_c_numeric"] = num
    if lc is None and num is None:
        text.append("numerical check: the symmetric saddle stays stable in the search range (no transition)")
        return
    if lc is not None and num is not None and abs(num - lc) <= AGREE * lc:
        text.append(f"numerical check: critical_lambda = {num:.12g} (agrees to {abs(num - lc) / lc:.1e})")
        return
    msg = (f"the closed-form lambda_c = {lc} and the numerical critical_lambda = {num} disagree; "
           "trust neither without `linkernel trace`")
    text.append("numerical check: DISAGREES: " + msg)
    warnings.warn(_warning_class()(msg))


def _warning_class():
    from linkernel.errors import ContinuationWarning
    return ContinuationWarning


def _rnn(problem) -> CriticalAnswer:
    from linkernel.symbolic.critical import critical_point
    cp = critical_point(problem)
    fields = {**cp.to_dict(), "arch": problem.arch.label, "method": "closed form (RNN, linkernel.symbolic.critical)",
              "breaks": "W{" + ",".join(map(str, problem.arch.W[0])) + "}", "lambda_c_numeric": None, "note": None}
    text = [cp.summary()]
    _check(fields, problem, text)
    return CriticalAnswer(fields, "\n".join(text))


def _pattern(problem, q: float) -> CriticalAnswer:
    import sympy as sp

    from linkernel.symbolic.patterns import derived_order, pattern_critical_point
    cp = pattern_critical_point(problem.arch)
    hyper = dict(w_=problem.w, v_=problem.v, u_=problem.u, kappa_=problem.kappa)
    fields = {k: None for k in _RNN_KEYS}
    fields |= {"arch": problem.arch.label, "method": "closed form (pattern, linkernel.symbolic.patterns)",
               "problem": _problem_keys(problem), "seconds": cp.seconds, "breaks": None,
               "lambda_c_numeric": None, "note": None}
    head = f"{problem.arch.label} endpoint task: T={problem.T} P={problem.P} kappa={problem.kappa:g} " \
           f"w={problem.w:g} v={problem.v:g} u={problem.u:g}"
    if not cp.has_transition:
        fields |= {"order": "none", "note": "no Z2-odd Hessian block becomes singular (r_c = oo)"}
        text = [head, "no transition: no Z2-odd Hessian block of the symmetric branch ever becomes singular "
                      "(r_c = oo); the symmetric branch stays stable at every lambda", "order: none"]
        _check(fields, problem, text)
        return CriticalAnswer(fields, "\n".join(text))
    # the label sector of P > 1 orthogonal patterns is the P = 1 chain at lambda |yhat| (as for the RNN)
    lambda_c = cp.lambda_c_value(**hyper) / math.sqrt(q)
    load = cp.load(**hyper)
    order = derived_order(problem.arch, **hyper)
    stable = cp.branch_stable(load)
    fields |= {"lambda_c": lambda_c, "r_c": float(cp.r_c), "load_c": load, "order": order,
               "branch_stable": stable, "beta": 0.5 if order == "second order" else None,
               "latex": r"\lambda_c = " + sp.latex(cp.lambda_c / sp.sqrt(sp.nsimplify(q))), "breaks": cp.group_text}
    text = [head, f"lambda_c = {lambda_c:.12g}      ({fields['latex']})",
            f"critical ratio r_c = H^tt/Sigma^tt = {cp.r_c} (chain of {cp.chain_length} entries); "
            f"the transition breaks {cp.group_text} (order parameter: that group's m)",
            f"load x_c = v H^(T-1,T-1)/kappa = {load:.8g}; branch stable at r_c: {stable}",
            f"order: {order}"]
    if fields["beta"] is not None:
        text.append(f"m ~ (lambda - lambda_c)^beta with beta = {fields['beta']:g}")
    if cp.even_instability is not sp.oo and float(cp.even_instability) < float(cp.r_c):
        note = (f"an even Hessian block becomes singular at r = {cp.even_instability}, before r_c = {cp.r_c}: "
                "the symmetric branch loses stability without breaking a flip first; follow it with `linkernel trace`")
        fields["note"] = note
        text.append("note: " + note)
        warnings.warn(_warning_class()(note))
    _check(fields, problem, text)
    return CriticalAnswer(fields, "\n".join(text))


def _numerical(problem) -> CriticalAnswer:
    from linkernel.formatting import task_name
    if problem.n > NUMERIC_MAX:
        raise ValueError(f"T*P={problem.n} is too large for 'critical' on a problem without a closed form; "
                         f"it handles T*P <= {NUMERIC_MAX}")
    num = _numeric(problem)
    fields = {k: None for k in _RNN_KEYS}
    fields |= {"arch": problem.arch.label, "method": "numerical (linkernel.theory.special_points.critical_lambda)",
               "problem": _problem_keys(problem), "breaks": None, "lambda_c": num, "lambda_c_numeric": num,
               "order": "unknown" if num is not None else "none",
               "note": "not an endpoint task: no closed form; the order is not derived here (use `linkernel trace` "
                       "or `linkernel exponent`)"}
    text = [f"{task_name(problem)}: T={problem.T} P={problem.P} kappa={problem.kappa:g}",
            (f"lambda_c = {num:.12g}  (numerical: where the symmetric saddle's odd Hessian eigenvalue crosses 0)"
             if num is not None else "no transition: the symmetric saddle stays stable for 0.1 <= lambda <= 20 "
                                     "(critical_lambda's search range)"),
            f"order: {fields['order']} ({fields['note']})"]
    return CriticalAnswer(fields, "\n".join(text))


def critical_answer(problem) -> CriticalAnswer:
    """The critical point of ``problem`` by the route that applies to its architecture and task."""
    q = _endpoint_q(problem)
    if q is None:
        return _numerical(problem)
    if problem.arch.is_rnn:
        return _rnn(problem)
    return _pattern(problem, q)
