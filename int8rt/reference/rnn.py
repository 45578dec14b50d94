"""Numpy references of LSTM and GRU layers (ONNX semantics, layout 0): the float ops `LSTM` /
`GRU` and the dynamic-int8 ops `DynQLSTM` / `DynQGRU` of the dynamic path, the latter bit-exact
with the native `rnn` record (csrc/kernels/rnn/rnn.c, csrc/include/int8rt/rnn.h states the
arithmetic).

Gate nonlinearities: sigma and tanh from one exp polynomial evaluated in float32 numpy
operations, operation for operation as the kernel (csrc/kernels/rnn/gates.h states the
arithmetic and its error against libm), so both sides give the same float32 gates. Every
other step is a float32 numpy operation in the kernel's order.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .dynq import dynq_matmul, quantize_weight_per_channel
from .onnx_ops import OPS

F32 = np.float32
DEFAULT_ACTIVATIONS = {"LSTM": ("Sigmoid", "Tanh", "Tanh"), "GRU": ("Sigmoid", "Tanh")}


_EXP_C = tuple(F32(c) for c in (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3,
                                 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1))


def gate_exp(v: np.ndarray) -> np.ndarray:
    """exp of the gate kernels (gates.h): clamp, Cody-Waite ln 2 reduction, the Cephes expf
    polynomial, times 2^n; float32 throughout, no fused multiply-add."""
    v = np.asarray(v, F32)
    with np.errstate(invalid="ignore", over="ignore"):
        v = np.where(v < F32(-87.3), F32(-87.3), np.where(v > F32(88.3), F32(88.3), v))
        n = np.rint(v * F32(1.44269504088896341))
        r = v - n * F32(0.693359375)
        r = r - n * F32(-2.12194440e-4)
        p = np.full_like(r, _EXP_C[0])
        for c in _EXP_C[1:]:
            p = p * r + c
        p = p * r * r + (r + F32(1))
        e = ((np.nan_to_num(n).astype(np.int32) + 127) << 23).view(F32)
        return (p * e).astype(F32)


def sigmoid(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, F32)
    return (F32(1) / (F32(1) + gate_exp(-v))).astype(F32)


def tanh(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, F32)
    a = np.abs(v)
    t = (F32(1) - F32(2) / (F32(1) + gate_exp(a + a))).astype(F32)
    return np.where(v < 0, -t, t).astype(F32)


# matmul(d, part, a) -> a [m, k] times the weights of direction d, part "w" (W, all gates),
# "r" (LSTM: R, all gates; GRU: R_zr), "rh" (GRU: R_h), plus that part's bias, float32
MatMul = Callable[[int, str, np.ndarray], np.ndarray]


def run_layer(cell: str, x: np.ndarray, hidden: int, dirs: int, reverse: bool, lbr: bool,
              matmul: MatMul, lens: np.ndarray | None, h0: np.ndarray | None,
              c0: np.ndarray | None) -> list[np.ndarray]:
    """Y [T, D, B, H], Y_h [D, B, H] (and Y_c for LSTM), as the native kernel."""
    t_len, b_len, _ = x.shape
    hsz = hidden
    g = 4 if cell == "LSTM" else 3
    y = np.zeros((t_len, dirs, b_len, hsz), F32)
    yh = np.zeros((dirs, b_len, hsz), F32)
    yc = np.zeros((dirs, b_len, hsz), F32)
    lens_ = np.full(b_len, t_len, np.int64) if lens is None else np.asarray(lens, np.int64)
    for d in range(dirs):
        rev = bool(d) if dirs == 2 else reverse
        xw = matmul(d, "w", x.reshape(t_len * b_len, -1)).reshape(t_len, b_len, g * hsz)
        h = np.zeros((b_len, hsz), F32) if h0 is None else np.array(h0[d], F32)
        c = np.zeros((b_len, hsz), F32) if c0 is None else np.array(c0[d], F32)
        for st in range(t_len):
            live = st < lens_
            t = np.where(live, np.where(rev, lens_ - 1 - st, st), 0)
            xg = xw[t, np.arange(b_len)]  # [B, G*H]
            hg = matmul(d, "r", h)
            if cell == "LSTM":
                gi = sigmoid(xg[:, :hsz] + hg[:, :hsz])
                go = sigmoid(xg[:, hsz:2 * hsz] + hg[:, hsz:2 * hsz])
                gf = sigmoid(xg[:, 2 * hsz:3 * hsz] + hg[:, 2 * hsz:3 * hsz])
                gc = tanh(xg[:, 3 * hsz:] + hg[:, 3 * hsz:])
                cn = (gf * c + gi * gc).astype(F32)
                hn = (go * tanh(cn)).astype(F32)
                c = np.where(live[:, None], cn, c)
            else:
                z = sigmoid(xg[:, :hsz] + hg[:, :hsz])
                r = sigmoid(xg[:, hsz:2 * hsz] + hg[:, hsz:2 * hsz])
                if lbr:
                    n = tanh(xg[:, 2 * hsz:] + r * matmul(d, "rh", h))
                else:
                    n = tanh(xg[:, 2 * hsz:] + matmul(d, "rh", (r * h).astype(F32)))
                hn = ((F32(1) - z) * n + z * h).astype(F32)
            h = np.where(live[:, None], hn, h)
            for b in np.flatnonzero(live):
                y[t[b], d, b] = h[b]
        yh[d], yc[d] = h, c
    return [y, yh, yc] if cell == "LSTM" else [y, yh]


def _attrs(cell: str, attrs: dict, where: str = "") -> tuple[int, int, bool, bool]:
    """(hidden, dirs, reverse, linear_before_reset); refuses what the kernel does not do."""
    direction = attrs.get("direction", "forward")
    if direction not in ("forward", "reverse", "bidirectional"):
        raise ValueError(f"{cell}{where}: direction {direction!r}")
    if int(attrs.get("layout", 0)) != 0:
        raise ValueError(f"{cell}{where}: layout 1 (batch first) is not supported")
    acts = attrs.get("activations")
    dirs = 2 if direction == "bidirectional" else 1
    if acts and tuple(acts) != DEFAULT_ACTIVATIONS[cell] * dirs:
        raise ValueError(f"{cell}{where}: only the default activations are supported, not "
                         f"{acts}")
    if attrs.get("clip") is not None or int(attrs.get("input_forget", 0)):
        raise ValueError(f"{cell}{where}: clip / input_forget are not supported")
    return (int(attrs["hidden_size"]), dirs, direction == "reverse",
            bool(int(attrs.get("linear_before_reset", 0))))


def _opt(ins: list, k: int):
    return ins[k] if len(ins) > k and ins[k] is not None and np.size(ins[k]) else None


def _split(cell: str, hsz: int, rows: np.ndarray, part: str) -> np.ndarray:
    if cell == "LSTM" or part == "w":
        return rows
    return rows[:2 * hsz] if part == "r" else rows[2 * hsz:]


def _bias_part(cell: str, hsz: int, b: np.ndarray, part: str) -> np.ndarray:
    g = 4 if cell == "LSTM" else 3
    wb, rb = b[:g * hsz], b[g * hsz:]
    return wb if part == "w" else _split(cell, hsz, rb, part)


def _float_op(cell: str):
    def run(ins, attrs):
        hsz, dirs, rev, lbr = _attrs(cell, attrs)
        x, w, r = (np.asarray(a, F32) for a in ins[:3])
        g = 4 if cell == "LSTM" else 3
        b = _opt(ins, 3)
        b = np.zeros((dirs, 2 * g * hsz), F32) if b is None else np.asarray(b, F32)
        if cell == "LSTM" and _opt(ins, 7) is not None:
            raise ValueError("LSTM: peephole weights (input P) are not supported")

        def matmul(d, part, a):
            wt = w[d] if part == "w" else _split(cell, hsz, r[d], part)
            return (a @ wt.T + _bias_part(cell, hsz, b[d], part)).astype(F32)

        return run_layer(cell, x, hsz, dirs, rev, lbr, matmul, _opt(ins, 4), _opt(ins, 5),
                         _opt(ins, 6) if cell == "LSTM" else None)
    return run


def _dynq_op(cell: str):
    def run(ins, attrs):
        hsz, dirs, rev, lbr = _attrs(cell, attrs)
        x, qw, sw, qr, sr, b = ins[:6]

        def matmul(d, part, a):
            if part == "w":
                q, s = qw[d], sw[d]
            else:
                q, s = _split(cell, hsz, qr[d], part), _split(cell, hsz, sr[d], part)
            return dynq_matmul(np.ascontiguousarray(a, F32), q, s,
                               _bias_part(cell, hsz, b[d], part), True)

        return run_layer(cell, np.asarray(x, F32), hsz, dirs, rev, lbr, matmul, _opt(ins, 6),
                         _opt(ins, 7), _opt(ins, 8) if cell == "LSTM" else None)
    return run


def quantize_rnn_weights(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ONNX W or R [D, G*H, K] -> (q int8 [D, G*H, K], s float32 [D, G*H]): symmetric per
    output channel (one row of one direction), as quantize_weight_per_channel."""
    qs = [quantize_weight_per_channel(np.ascontiguousarray(w[d].T)) for d in range(w.shape[0])]
    return (np.ascontiguousarray(np.stack([q for q, _ in qs])),
            np.ascontiguousarray(np.stack([s for _, s in qs])))


OPS["LSTM"] = _float_op("LSTM")
OPS["GRU"] = _float_op("GRU")
OPS["DynQLSTM"] = _dynq_op("LSTM")
OPS["DynQGRU"] = _dynq_op("GRU")
