"""Derivation documents (LaTeX) written from the symbolic results of the package.

:func:`derivation_document` assembles one self-contained, numbered article for
the endpoint task of one architecture, T and P: the action, the saddle-point
equations (:mod:`linkernel.symbolic.equations`), the symmetric branch
(:mod:`linkernel.symbolic.symmetric_branch`), the Hessian and its blocks
(:mod:`linkernel.symbolic.stability`), the critical point and the Landau coefficients
and exponent (:mod:`linkernel.symbolic.landau`).  Every formula in it is printed from
a SymPy object computed on the spot; the prose only says what was done.

Only packages of Debian's ``texlive-latex-base`` are used (amsmath, amssymb,
geometry, graphicx), so ``pdflatex`` compiles the output wherever that is
installed.  The output is deterministic (no dates), so regenerated documents
can be compared with committed ones.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import sympy as sp

from linkernel import tasks
from linkernel.symbolic.symmetric_branch import check_arch_T, r, symmetric_branch
from linkernel.symbolic.equations import saddle_point_equations
from linkernel.symbolic.landau import (critical_amplitude_squared, general_critical_point, landau_coefficients,
                              sixth_order_coefficient, tricritical_load)
from linkernel.symbolic.stability import critical_mode, critical_ratio, hessian_blocks
from linkernel.symbolic.action import v, w

if TYPE_CHECKING:       # only for annotations (strings under ``from __future__ import annotations``)
    from linkernel.architecture import Architecture

#: the standard set written to derivations/
STANDARD_SET = tuple((arch, T, 1) for arch in ("rnn", "dnn") for T in (2, 3, 4, 5))

#: expressions longer than this (characters of LaTeX) are scaled to the line width
_WIDE = 110


def _tex(e) -> str:
    return sp.latex(e)


def _fit(body: str) -> str:
    """Scale one over-wide line down to the text width (never up)."""
    if len(body) <= _WIDE:
        return body
    return f"\\resizebox{{\\ifdim\\width>\\linewidth\\linewidth\\else\\width\\fi}}{{!}}{{$\\displaystyle {body}$}}"


def _eq(lhs: str, rhs, label: str | None = None) -> str:
    """A numbered equation; a long sum is broken after its terms (multline), long lines are scaled."""
    lab = f"\\label{{{label}}}" if label else ""
    if isinstance(rhs, sp.Add) and len(lhs) + len(_tex(rhs)) > _WIDE:
        lines, cur, first = [], f"{lhs} =", True
        for term in sp.Add.make_args(rhs):
            t = _tex(term)
            piece = t if first or t.startswith("-") else "+ " + t
            if not first and len(cur) + len(piece) > _WIDE:
                lines.append(cur)
                cur = piece
            else:
                cur += " " + piece
            first = False
        lines.append(cur)
        if len(lines) > 1:
            body = "\\\\\n".join(_fit(l) for l in lines)
            return f"\\begin{{multline}}{lab}\n{body}\n\\end{{multline}}\n"
    body = f"{lhs} = {rhs if isinstance(rhs, str) else _tex(rhs)}"
    return f"\\begin{{equation}}{lab}\n{_fit(body)}\n\\end{{equation}}\n"


def _matrix(M: sp.Matrix) -> str:
    return sp.latex(M, mat_delim="(")


def filename(arch: str, T: int, P: int = 1) -> str:
    """``rnn_T4_P1.tex``: ``arch`` is the name from :func:`derivable_arch` (never a pattern's JSON)."""
    return f"{arch}_T{T}_P{P}.tex"


def derivable_arch(arch, T: int) -> str:
    """``"rnn"`` or ``"dnn"`` for an architecture the documents are written for (a spec, JSON or
    Architecture equal to the RNN or the DNN over T steps); ValueError for any other pattern.

    The branch, Hessian-block, critical-point and Landau sections are derived for these two only: a
    pattern written up with them would be another architecture's derivation.  For a pattern, the
    closed-form r_c, lambda_c, the breaking group and the order come from
    :func:`linkernel.symbolic.patterns.pattern_critical_point` (``linkernel critical --arch PATTERN``).
    """
    from linkernel.architecture import Architecture
    a = Architecture.from_spec(arch, T)
    name = str(a)
    if name in ("rnn", "dnn"):
        return name
    raise ValueError(f"arch={a.spec_text()} is invalid for a derivation document; documents are written for rnn "
                     f"and dnn only; for this pattern use `linkernel critical --arch '{a.spec_text()}' --T {T}` "
                     "(closed-form lambda_c, breaking group and order from linkernel.symbolic.patterns)")


# --- sections -------------------------------------------------------------------
def _preamble(arch: str, T: int, P: int) -> str:
    name = "recurrent network (RNN, shared weights)" if arch == "rnn" else "deep network (DNN, unrolled, no sharing)"
    layer = "" if arch == "rnn" else "^{(t)}"
    ordering = "" if P == 1 else "index $(t,p)\\to tP+p$, "
    labels = "(-1)^p" if P > 1 else "1"
    plural = "s" if P > 1 else ""
    return rf"""\documentclass[10pt]{{article}}
\usepackage[margin=2cm]{{geometry}}
\usepackage{{amsmath,amssymb,graphicx}}
\allowdisplaybreaks
\title{{Kernel theory of the linear {arch.upper()}: endpoint task, $T = {T}$, $P = {P}$}}
\author{{generated by \texttt{{linkernel derive --arch {arch} --T {T} --P {P}}}; do not edit}}
\date{{}}
\begin{{document}}
\maketitle

\section{{Model and task}}
A linear {name} of width $N$ with hidden states $t = 0,\dots,{T - 1}$ (the last state is
$t = T-1 = {T - 1}$): $h^0 = U{layer} x^0$, $h^t = W{layer} h^{{t-1}} + U{layer} x^t$,
readout $f^t = \tfrac1N v\cdot h^t$ (mean-field / $\mu$P scaling), priors $W_{{ij}}\sim\mathcal N(0,w/N)$,
$U_{{ij}}\sim\mathcal N(0,u/D)$, $v_i\sim\mathcal N(0,v)$, likelihood
$\exp\bigl(-\tfrac{{N}}{{2\kappa}}\sum_{{(t,p)\in S}}(y_p^t-f_p^t)^2\bigr)$.
Endpoint classification: {P} orthogonal input{plural} $x_p^0 = \sqrt D\,e_p$ at $t=0$ only,
label{plural} $\hat y_p = {labels}$ at $t = T-1$ only, targets $y = \lambda\hat y$.
The order parameter is the kernel $H^{{tt'}}_{{pp'}} = \tfrac1N h_p^t\cdot h_{{p'}}^{{t'}}$
({ordering}$H$ symmetric, ${T * P}\times{T * P}$).
"""


def _action_section(problem, se) -> str:
    Sig = se.sigma
    out = [r"\section{The action}",
           r"For large $N$ the posterior of $H$ is $e^{-N S(H)}$ with",
           r"\begin{equation}S(H) = \tfrac12\bigl[\operatorname{tr}(\Sigma^{-1}H) - \ln\det H + \ln\det\Sigma"
           r" - TP\bigr] + \tfrac12\, y_S^\top (v H_{SS} + \kappa)^{-1} y_S,\label{eq:action}\end{equation}",
           r"the KL divergence of $\mathcal N(0,H)$ from $\mathcal N(0,\Sigma(H))$ plus the readout integrated out. "
           r"Here $\Sigma(H) = C + w\,M\circ H^{t-1,t'-1}$ "
           + ("(weight sharing couples all pairs of times, $M = 1$) " if problem.arch.is_rnn
              else "(a fresh $W^{(t)}$ per layer, $M^{tt'} = \\delta_{tt'}$, and $C$ only at $t = t'$) ")
           + "is, for this task,",
           _eq(r"\Sigma(H)", _matrix(Sig), "eq:sigma")]
    return "\n".join(out) + "\n"


def _equations_section(problem, se) -> str:
    out = [r"\section{Saddle-point equations}",
           r"With $dS = \operatorname{tr}(G\,dH)$ for symmetric $dH$,",
           r"\begin{equation}G = \tfrac12(\Xi - \Gamma) + \tfrac w2\,L^*(\Xi - \Xi H \Xi) - \tfrac v2\,E_S(a a^\top),"
           r"\qquad \Gamma = H^{-1},\ \Xi = \Sigma(H)^{-1},\ a = (vH_{SS}+\kappa)^{-1}y_S,\label{eq:G}\end{equation}",
           r"where $L^*$ shifts the $t,t'\ge1$ blocks back by one step (masked by $M$) and $E_S$ embeds the "
           r"supervised block. The saddle point is $G = 0$; entry by entry "
           r"($\partial S/\partial h = G_{hh}$ on the diagonal, $2G_{hh'}$ off it), with $\Gamma_{ij}$ the entries of "
           r"$H^{-1}$ and $\Xi_{ij}$ those of $\Sigma^{-1}$ (inverted block by block; $1\times1$ blocks explicitly):"]
    for h, eq in se.equations.items():
        out.append(_eq(r"\frac{\partial S}{\partial " + _tex(h) + "}", eq))
    return "\n".join(out) + "\n"


def _branch_section(arch: str, T: int, P: int) -> str:
    br = symmetric_branch(T, arch)
    out = [r"\section{The symmetric branch}",
           r"On the symmetric (time-uncorrelated) branch every cross-time entry vanishes, $H^{tt'} = 0$ for $t\ne t'$. "
           r"Then $\Sigma$ is diagonal too, and with $h_t = H^{tt}$ the action is a chain over $t$:",
           _eq("S", br.action, "eq:branch-action"),
           r"Its equations $\partial S/\partial h_t = 0$ are"]
    for h, eq in zip(br.h, br.equations):
        out.append(_eq(r"\frac{\partial S}{\partial " + _tex(h) + "}", sp.simplify(eq)))
    out += [r"The equation of $h_t$ ($t < T-1$) involves only $h_{t-1}, h_t, h_{t+1}$ and is linear in $h_{t+1}$; "
            r"solved for it, it says $h_{t+1}/\Sigma^{t+1,t+1} = h_t/\Sigma^{tt}$: the \emph{branch ratio} "
            r"$r = H^{tt}/\Sigma^{tt}$ is the same at every $t$. Hence, with $h_0 = r u$,"]
    for t, h in enumerate(br.kernel):
        out.append(_eq(f"H^{{{t}{t}}}", h))
    out += [r"so the ratio $\rho = H^{t+1,t+1}/H^{tt}$ is constant along $t$:",
            _eq(r"\rho", br.rho, "eq:rho"),
            r"The last equation gives the signal explicitly as a function of the branch parameter $r \ge 1$ "
            r"($r = 1$ is the NNGP kernel at $\lambda = 0$):",
            _eq(r"\lambda^2", br.lam_squared, "eq:lambda-of-r"),
            r"The RNN and the DNN share this branch (their $\Sigma$ agree on diagonal kernels). "
            r"In normalised coordinates $H = D^{1/2}(1+e)D^{1/2}$ around it the action depends only on $r$ and "
            r"the load $x = v H^{T-1,T-1}/\kappa$:",
            _eq("x", br.load, "eq:load")]
    if P > 1:
        out.append(rf"For $P = {P}$ the branch is $H^{{tt}} = h_t\,\Pi + g_t(1-\Pi)$ with $\Pi$ the projector on "
                   r"$\hat y$: the label sector is the chain above with $\lambda^2 \to \lambda^2|\hat y|^2$, the "
                   r"other sectors stay at the NNGP values $g_t = u w^t$.")
    return "\n".join(out) + "\n"


def _hessian_section(arch: str, T: int) -> str:
    hb = hessian_blocks(T, arch)
    out = [r"\section{The Hessian on the branch}",
           r"Expanding the action to second order in $e$ couples $e_{tt'}$ only to $e_{t+1,t'+1}$: the Hessian "
           r"splits into one block per lag $k = |t-t'|$ (checked on the full expansion). Under $W\to-W$ the odd "
           r"lags change sign: odd $k$ are the $Z_2$-odd entries, even $k$ the $Z_2$-even ones. "
           r"With respect to $(e_{0,k}, e_{1,k+1}, \dots)$:"]
    for k in range(T):
        parity = "odd" if k % 2 else "even"
        out.append(f"Lag {k} ({parity}):")
        out.append(_eq(rf"\mathcal H_{{{k}}}", _matrix(hb.blocks[k])))
        out.append(_eq(rf"\det\mathcal H_{{{k}}}", hb.determinants[k]))
    out.append(r"The lag-0 block carries the likelihood; its determinant vanishes exactly where $d\lambda/dr = 0$ "
               r"(a fold of the branch, which happens before the critical point only for loads "
               rf"$x < 1/(2T-1) = {sp.latex(sp.Rational(1, 2 * T - 1))}$ at $r_c$).")
    return "\n".join(out) + "\n"


def _critical_section(T: int, P: int) -> str:
    out = [r"\section{The critical point}"]
    if T < 3:
        out.append(r"For $T = 2$ the only odd block is the $1\times1$ lag-1 block, which is a positive constant: "
                   r"the symmetric branch never loses stability, there is no critical point.")
        return "\n".join(out) + "\n"
    br = symmetric_branch(T, "rnn")
    rc = critical_ratio(T)
    hc = br.kernel[-1].subs(r, rc)
    lc = sp.simplify(br.lam_of_r.subs(r, rc))
    V = critical_mode(T, rc)
    out += [r"The odd blocks become singular first at the smallest root $r > 1$ of their determinants, in the "
            r"lag-1 block. The critical branch ratio, the ratio $\rho_c$, the last kernel entry and the critical "
            r"signal are",
            _eq("r_c", rc, "eq:rc"), _eq(r"\rho_c", w * rc), _eq(r"H_c^{T-1,T-1}", hc),
            _eq(r"\lambda_c", lc, "eq:lambda-c")]
    if P > 1:
        out.append(rf"(for $P = {P}$ labels $\pm1$ divide $\lambda_c$ by $\sqrt{{{P}}}$).")
    out += [r"The critical mode (null vector of the lag-1 block, normalised to $e_{T-2,T-1} = 1$) is linear in $t$:",
            _eq(r"\bigl(e_{t,t+1}\bigr)_{t=0}^{T-2}", _matrix(sp.Matrix([[V[i, i + 1] for i in range(T - 1)]]))),
            r"\paragraph{General $T$.} The lag-$k$ block of the RNN is the chain of length $n = T-k$ with $2r$ on "
            r"the diagonal, $-r$ beside it and $1$ in the last corner. Its leading minors are $D_j = r^j(j+1)$ "
            r"(from $D_j = 2rD_{j-1} - r^2D_{j-2}$), so $\det = D_{n-1} - r^2D_{n-2} = r^{n-1}(n - (n-1)r)$, "
            r"which first vanishes for the longest chain, lag 1: for every $T\ge3$",
            _eq(r"r_c", r"\frac{T-1}{T-2},\qquad \lambda_c = \frac{v h_c + \kappa}{\sqrt{(T-2)\,v h_c}},\qquad "
                r"h_c = u\,w^{T-1}\Bigl(\frac{T-1}{T-2}\Bigr)^T", "eq:general")]
    return "\n".join(out) + "\n"


def _landau_section(T: int) -> str:
    if T < 3:
        return ""
    L = landau_coefficients(T)
    Lc = landau_coefficients(T, True)
    g = general_critical_point()
    rc = critical_ratio(T)
    br = symmetric_branch(T, "rnn")
    out = [r"\section{Landau theory}",
           r"Let $S_\mathrm{eff}(m) = S_0 + a\,m^2 + b\,m^4 + c\,m^6 + \dots$ be the action minimised over all other "
           r"entries at fixed $m = H^{T-1,T-2}$. Put $e = \epsilon V + \epsilon^2 Y$ with $\epsilon = e_{T-2,T-1}$, "
           r"$V$ the constrained critical mode (the other odd entries at their quadratic optimum; their "
           r"$O(\epsilon^3)$ corrections enter at $\epsilon^6$ only) and $Y$ the $Z_2$-even shift on lags 0 and 2, "
           r"which is $O(\epsilon^2)$ and changes the quartic term. In the normalised variable $\epsilon$:",
           _eq(r"a_e", L.a_e), _eq(r"b_e", L.b_e),
           r"At $r_c$ the even shift that minimises the quartic term is",
           _eq(r"Y", _matrix(Lc.even_shift)),
           r"and the quartic coefficient is",
           _eq(r"b_e(r_c)", Lc.b_e, "eq:bc"),
           r"With $m^2 = \epsilon^2\,H^{T-1,T-1}H^{T-2,T-2} = \epsilon^2 h^2/(w r)$ ($h = H^{T-1,T-1}$) the "
           r"coefficients of $m$ are $a = a_e\,w r/h^2$ and $b = b_e\,(w r)^2/h^4$; at $\lambda_c$",
           _eq(r"b", sp.simplify(Lc.b), "eq:b-m")]
    dlam = sp.diff(br.lam_of_r, r).subs(r, rc)
    da = sp.simplify(sp.diff(L.a, r).subs(r, rc) / dlam)
    out += [r"and $a(\lambda_c) = 0$ with slope",
            _eq(r"\frac{da}{d\lambda}\Big|_{\lambda_c}", da, "eq:da"),
            r"so that, where $b > 0$, the critical amplitude is",
            _eq(r"A^2 = -\frac{a'(\lambda_c)}{2b}", critical_amplitude_squared(T), "eq:amplitude"),
            r"\section{Order of the transition and exponent}",
            r"For $b > 0$ at $\lambda_c$ minimising $a m^2 + b m^4$ gives $m^2 = -a/(2b)$, so the transition is "
            r"continuous with $\beta = 1/2$ and amplitude $A = \sqrt{-a'(\lambda_c)/(2b)}$ in "
            r"$m \simeq A(\lambda-\lambda_c)^{1/2}$. For $b < 0$ it is first order (a broken minimum coexists "
            r"below $\lambda_c$, which is then the spinodal of the symmetric phase). The sign of $b_e(r_c)$, "
            r"above, is the sign of its numerator wherever the branch is stable at $r_c$, "
            rf"$x > 1/(2T-1) = {sp.latex(sp.Rational(1, 2 * T - 1))}$."]
    xs = sorted(tricritical_load(T))
    if xs:
        for xs_ in xs:
            six = sixth_order_coefficient(T, xs_)
            kap = sp.simplify(v * br.kernel[-1].subs(r, rc) / xs_)
            out += [r"It changes sign at the tricritical load",
                    _eq(r"x^*", xs_), r"i.e.\ at", _eq(r"\kappa^*", kap, "eq:kappa-star"),
                    r"second order for $\kappa < \kappa^*$, first order for $\kappa > \kappa^*$. There $b = 0$ and "
                    r"the sixth-order coefficient (the odd $O(\epsilon^3)$ corrections solved out as well) is",
                    _eq(r"c_e", six.c_e), _eq(r"c", six.c),
                    r"positive, so at the tricritical point $m \simeq (-a'(\lambda_c)/(3c))^{1/4}"
                    r"(\lambda-\lambda_c)^{1/4}$: $\beta = 1/4$." if six.c_e > 0 else
                    r"not positive: the expansion must go further."]
    else:
        out.append(r"Its numerator is negative for every $x > 1/(2T-1)$: for this $T$ the transition is first order "
                   r"at every $w, v, u, \kappa$ (no tricritical point).")
    out += [r"\paragraph{General $T$.} The derivations for $T = 3,\dots,9$ follow",
            _eq(r"b_e(r_c)", g["b_e_critical"], "eq:b-general"),
            r"so a tricritical load $x^* = T/(-2T^2+11T-8)$ exists for $T = 3$ ($x^* = 3/7$) and $T = 4$ "
            r"($x^* = 1$) only; for $T\ge5$ the transition is first order wherever the branch is stable."]
    return "\n".join(out) + "\n"


def _dnn_section(T: int) -> str:
    hb = hessian_blocks(T, "dnn")
    return (r"\section{No transition in the DNN}" "\n"
            r"Every block of lag $k\ge1$ is $\lambda$-independent with determinant "
            + ", ".join(f"${_tex(hb.determinants[k])}$" for k in range(1, T))
            + r": the off-diagonal entries enter the action only through $-\ln\det H$, so their equations are "
            r"$(H^{-1})^{tt'} = 0$ (section 3) and every stationary point has $H^{tt'} = 0$ for $t\ne t'$. "
            r"The DNN's kernel always lies on the symmetric branch and never develops cross-time correlations; "
            r"it predicts zero at unsupervised times. Only where $\lambda(r)$ folds (small loads, lag-0 block "
            r"singular) does it jump between stable stretches of that branch." "\n")


def derivation_document(arch: str = "rnn", T: int = 4, P: int = 1) -> str:
    """The LaTeX source of the derivation for the endpoint task (see the module docstring); ``arch``: the RNN
    or the DNN (:func:`derivable_arch`; any other pattern is refused)."""
    T = check_arch_T(arch, T, 2)
    arch = derivable_arch(arch, T)
    problem = tasks.endpoint(arch, T=T, P=P)
    se = saddle_point_equations(problem, explicit=False)
    parts = [_preamble(arch, T, P), _action_section(problem, se), _equations_section(problem, se),
             _branch_section(arch, T, P), _hessian_section(arch, T)]
    if arch == "rnn":
        parts += [_critical_section(T, P), _landau_section(T)]
    else:
        parts.append(_dnn_section(T))
    parts.append("\\end{document}\n")
    return "\n".join(parts)


# The symbolic work grows about 1.4x per step of T: T = 6, 7, 8, 9 took 25, 64, 92, 121 s on 2 cores
# under load 12 (1/5 of that idle).  Beyond T_MAX a derivation is refused up front, not left to run.
T_MAX = 11


def write_derivation(arch: str | Architecture | dict, T: int, P: int = 1, out: str | Path = "derivations") -> Path:
    """Write the LaTeX derivation of the endpoint task to ``out/<arch>_T<T>_P<P>.tex``.

    The document (:func:`derivation_document`) derives, in closed form, the action, the
    saddle-point equations, the symmetric branch, the Hessian blocks on it and, for the RNN, the
    critical point and the Landau expansion; the repository's ``derivations/*.tex`` are written by
    it (derivations/generate.py).

    Parameters
    ----------
    arch : str or Architecture or dict
        The RNN or the DNN (``"rnn"``, ``"dnn"``, or a pattern equal to one of them); any other
        pattern is refused (use ``linkernel critical --arch PATTERN``).
    T : int
        Number of hidden states, 2 to :data:`T_MAX` (11).
    P : int, default 1
        Number of patterns of the endpoint task.
    out : str or pathlib.Path, default "derivations"
        Folder to write to (created if missing).

    Returns
    -------
    pathlib.Path
        The file written, ``out/<arch>_T<T>_P<P>.tex``.

    Raises
    ------
    ValueError
        If T is out of range or the pattern is neither the RNN nor the DNN.

    Examples
    --------
    >>> import tempfile
    >>> import linkernel as lk
    >>> path = lk.write_derivation("rnn", T=2, out=tempfile.mkdtemp())
    >>> path.name, "documentclass" in path.read_text()[:20]
    ('rnn_T2_P1.tex', True)
    """
    from linkernel.validation import count
    T = count("T", T)
    if T > T_MAX:
        raise ValueError(f"T={T} is too large for the symbolic derivation; T must be <= {T_MAX} (the SymPy work "
                         "grows about 1.4x per step of T: T = 9 takes about 2 minutes on 2 busy cores)")
    arch = derivable_arch(arch, T)         # refused before the folder is made
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / filename(arch, T, P)
    path.write_text(derivation_document(arch, T, P))
    return path


def write_standard_set(out: str | Path = "derivations", cases=STANDARD_SET, progress: bool = False) -> dict:
    """Write every case of ``cases`` (default RNN and DNN, T = 2..5, P = 1); returns {path: seconds}."""
    times = {}
    for arch, T, P in cases:
        t0 = time.perf_counter()
        path = write_derivation(arch, T, P, out)
        times[str(path)] = time.perf_counter() - t0
        if progress:
            print(f"{path}  {times[str(path)]:.2f} s")
    return times
