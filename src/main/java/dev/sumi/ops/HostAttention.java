package dev.sumi.ops;

import dev.sumi.device.DeviceBuffer;
import dev.sumi.device.Dim3;
import dev.sumi.device.GemmParams;
import dev.sumi.device.HostDevice;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;

import java.util.Arrays;
import java.util.stream.Stream;

/**
 * {@link AttentionOps} on the host device, materialised: the flash kernels of attention.cu synchronise
 * their blocks, which the host runs as fibers (a context switch per thread per barrier, seconds per
 * step for the tiny model at T = 1024), while this path is host GEMMs plus the barrier-free row
 * kernels of cuda-kernels/attention_rows.cu. Same contract as {@link AttentionOps} (layouts, lse,
 * delta, {@code =} outputs, deterministic). Per batch item and chunk of heads (or queries), with the matrices of
 * one head row-major [Tq, Tk] (column-major Tk x Tq, ld Tk, for the GEMMs; q, k, v, out and their
 * gradients are column-major D x T with ld = their row stride, one head apart by the head stride):
 * <pre>
 *   forward:  S = scale Q K^T; lse = logsumexp rows(S); P = exp(S - lse); O = P V
 *   backward: S = scale Q K^T; P = exp(S - lse); dV = P^T dO; dP = dO V^T;
 *             dS = P * (dP - delta); dQ = scale dS K; dK = scale dS^T Q   (delta = rowsum(dO * O))
 * </pre>
 * Causal entries are masked in the row kernels (P = dS = 0). Math is F32: S, P and dP are F32; P and
 * dS enter the GEMMs with V, dO, K, Q in the storage type (the GEMM takes one input type), rounded as
 * a PyTorch materialising computation rounds them.
 *
 * <p>Scratch: the device's workspace ({@link HostDevice#withWorkspace}), which keeps the largest size
 * asked for, so a training step allocates nothing after its first. The work is cut to fit
 * {@link #WORKSPACE_BUDGET} ({@link Chunks}): several heads at a time while a head's matrices fit
 * (8-10 bytes per score: SD 1.5 at 512 px, T = 4096, F16, takes 160 MiB per head in the backward),
 * else blocks of one head's queries, whose dK and dV contributions add up in the GEMMs (beta = 1,
 * rounded to the storage type per block).
 */
final class HostAttention {
    private HostAttention() {}

    /** Workspace bytes a chunk aims to fit. */
    static final long WORKSPACE_BUDGET = 256L << 20;

    /** Threads per block of the row kernels: small blocks spread a few hundred rows over every worker. */
    private static final int ROW_BLOCK = 32;

    static void forward(HostDevice d, Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v, AttentionParams p) {
        forward(d, out, lse, q, k, v, p, WORKSPACE_BUDGET);
    }

    /** {@link #forward} with chunks of heads sized for {@code budget} bytes of workspace. */
    static void forward(HostDevice d, Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v, AttentionParams p, long budget) {
        DType t = q.dtype();
        Chunks c = Chunks.of(p, t, false, budget);
        d.withWorkspace(c.workspaceBytes(), ws -> {
            Scratch s = Scratch.of(ws, t, c, p, false);
            for (int b = 0; b < p.batch(); b++) {
                for (int h0 = 0; h0 < p.heads(); h0 += c.heads()) {
                    for (int i0 = 0; i0 < p.queries(); i0 += c.queries()) {
                        int n = Math.min(c.heads(), p.heads() - h0), m = Math.min(c.queries(), p.queries() - i0);
                        Tensor qb = at(q, p.qIndex(b, i0, h0)), kb = at(k, p.kIndex(b, 0, h0)), vb = at(v, p.vIndex(b, 0, h0));
                        scores(d, s, qb, kb, p, n, m);
                        probs(d, s, at(lse, ((long) b * p.heads() + h0) * p.queries() + i0), p, n, m, i0, true);
                        // O (D x m, ld o.row) = V (D x Tk) P (Tk x m)
                        gemm(d, new GemmParams(false, false, p.headDim(), m, p.keys(), 1f, vb, p.v().row(), p.v().head(),
                                s.prob, p.keys(), s.cells, 0f, at(out, p.oIndex(b, i0, h0)), p.o().row(), p.o().head(), n));
                    }
                }
            }
        });
    }

    static void backward(HostDevice d, Tensor dq, Tensor dk, Tensor dv, Tensor delta, Tensor dout, Tensor out, Tensor lse,
                         Tensor q, Tensor k, Tensor v, AttentionParams p) {
        backward(d, dq, dk, dv, delta, dout, out, lse, q, k, v, p, WORKSPACE_BUDGET);
    }

    /** {@link #backward} with chunks of heads sized for {@code budget} bytes of workspace. */
    static void backward(HostDevice d, Tensor dq, Tensor dk, Tensor dv, Tensor delta, Tensor dout, Tensor out, Tensor lse,
                         Tensor q, Tensor k, Tensor v, AttentionParams p, long budget) {
        DType t = q.dtype();
        // delta = rowsum(dout * out) over all rows: attention.cu's kernel, barrier-free (one thread per row)
        d.launch("attention_bwd_delta_" + t.kernelSuffix(), Launch.flatGrid(p.rows()), Dim3.of(Launch.BLOCK), 0,
                Stream.concat(Stream.of(delta, dout, out), Arrays.stream(p.kernelScalars())).toArray());
        Chunks c = Chunks.of(p, t, true, budget);
        int dim = p.headDim(), tk = p.keys();
        float scale = p.scale();
        long rq = p.q().row(), rk = p.k().row(), rv = p.v().row(), ro = p.o().row();
        long hq = p.q().head(), hk = p.k().head(), hv = p.v().head(), ho = p.o().head();
        d.withWorkspace(c.workspaceBytes(), ws -> {
            Scratch s = Scratch.of(ws, t, c, p, true);
            for (int b = 0; b < p.batch(); b++) {
                for (int h0 = 0; h0 < p.heads(); h0 += c.heads()) {
                    for (int i0 = 0; i0 < p.queries(); i0 += c.queries()) {
                        int n = Math.min(c.heads(), p.heads() - h0), m = Math.min(c.queries(), p.queries() - i0);
                        long qi = p.qIndex(b, i0, h0), ki = p.kIndex(b, 0, h0), vi = p.vIndex(b, 0, h0), oi = p.oIndex(b, i0, h0);
                        Tensor qb = at(q, qi), kb = at(k, ki), vb = at(v, vi), dob = at(dout, oi);
                        long row0 = ((long) b * p.heads() + h0) * p.queries() + i0;
                        float acc = i0 == 0 ? 0f : 1f;   // dK, dV sum over the query blocks of a head
                        scores(d, s, qb, kb, p, n, m);
                        probs(d, s, at(lse, row0), p, n, m, i0, false);
                        // dV (D x Tk, ld v.row) (+)= dO (D x m) P^T (m x Tk)
                        gemm(d, new GemmParams(false, true, dim, tk, m, 1f, dob, ro, ho, s.prob, tk, s.cells, acc, at(dv, vi), rv, hv, n));
                        // dP (Tk x m, ld Tk) = V^T (Tk x D) dO (D x m), F32
                        gemm(d, new GemmParams(true, false, tk, m, dim, 1f, vb, rv, hv, dob, ro, ho, 0f, s.dprob, tk, s.cells, n));
                        long rows = (long) n * m;
                        d.launch("attention_rows_dscores_" + t.kernelSuffix(), rowGrid(rows), Dim3.of(ROW_BLOCK), 0,
                                s.dscore, s.dprob, s.score, at(delta, row0), rows, tk);
                        // dQ (D x m, ld q.row) = scale K (D x Tk) dS (Tk x m)
                        gemm(d, new GemmParams(false, false, dim, m, tk, scale, kb, rk, hk, s.dscore, tk, s.cells, 0f, at(dq, qi), rq, hq, n));
                        // dK (D x Tk, ld k.row) (+)= scale Q (D x m) dS^T (m x Tk)
                        gemm(d, new GemmParams(false, true, dim, tk, m, scale, qb, rq, hq, s.dscore, tk, s.cells, acc, at(dk, ki), rk, hk, n));
                    }
                }
            }
        });
    }

    /**
     * How the work is cut: {@code heads} heads of all Tq queries at a time when a head's matrices fit
     * the budget; else one head and {@code queries} query rows at a time (the query blocks of a head
     * add their dK, dV contributions with beta = 1). At least one query row, so a budget below one row
     * is exceeded by that row.
     *
     * @param bytesPerCell workspace bytes per score: S/P (F32), dP/dS (F32, backward), P/dS in the
     *                     storage type unless that is F32
     */
    record Chunks(int heads, int queries, long bytesPerCell, long keys) {
        static Chunks of(AttentionParams p, DType t, boolean backward, long budget) {
            long perCell = 4 + (backward ? 4 : 0) + (t == DType.F32 ? 0 : t.byteSize);
            long perRow = Math.multiplyExact(perCell, p.keys()), perHead = Math.multiplyExact(perRow, p.queries());
            if (perHead <= budget) return new Chunks((int) Math.min(p.heads(), budget / perHead), p.queries(), perCell, p.keys());
            return new Chunks(1, (int) Math.max(1, budget / perRow), perCell, p.keys());
        }

        long workspaceBytes() {
            return (long) heads * queries * keys * bytesPerCell;
        }
    }

    /**
     * The workspace cut into one chunk's matrices, each [heads, queries, Tk] row-major, {@code cells} = queries * Tk
     * apart per head. score: S, then P (F32). dprob: dP (F32, backward only). prob: P in the storage type
     * (the score itself for F32). dscore: dS in the storage type, over dP for F32, else over prob (dead by then).
     */
    private record Scratch(Tensor score, Tensor dprob, Tensor prob, Tensor dscore, long cells) {
        static Scratch of(DeviceBuffer ws, DType t, Chunks c, AttentionParams p, boolean backward) {
            long cells = (long) c.queries() * p.keys(), n = c.heads() * cells;
            Tensor score = Tensor.wrap(ws.slice(0, 4 * n), DType.F32, n);
            Tensor dprob = backward ? Tensor.wrap(ws.slice(4 * n, 4 * n), DType.F32, n) : null;
            long lowAt = backward ? 8 * n : 4 * n;
            Tensor prob = t == DType.F32 ? score : Tensor.wrap(ws.slice(lowAt, t.byteSize * n), t, n);
            Tensor dscore = t == DType.F32 ? dprob : prob;
            return new Scratch(score, dprob, prob, dscore, cells);
        }
    }

    /** S (Tk x m, ld Tk) = scale K^T (Tk x D) Q (D x m), F32, for n heads of m queries. */
    private static void scores(HostDevice d, Scratch s, Tensor qb, Tensor kb, AttentionParams p, int n, int m) {
        gemm(d, new GemmParams(true, false, p.keys(), m, p.headDim(), p.scale(), kb, p.k().row(), p.k().head(),
                qb, p.q().row(), p.q().head(), 0f, s.score, p.keys(), s.cells, n));
    }

    /** P = exp(S - lse) into score (F32) and prob (storage type); lse found (forward) or read (backward). */
    private static void probs(HostDevice d, Scratch s, Tensor lseRows, AttentionParams p, int n, int m, int query0, boolean findLse) {
        long rows = (long) n * m;
        d.launch("attention_rows_probs_" + s.prob.dtype().kernelSuffix(), rowGrid(rows), Dim3.of(ROW_BLOCK), 0,
                s.prob, s.score, lseRows, rows, m, query0, p.keys(), p.causal() ? 1 : 0, findLse ? 1 : 0);
    }

    private static Dim3 rowGrid(long rows) {
        return Dim3.of(Math.toIntExact((rows + ROW_BLOCK - 1) / ROW_BLOCK));
    }

    /** The elements of x from {@code offset} on, as a flat view (strided operands start there). */
    private static Tensor at(Tensor x, long offset) {
        return x.view(offset, x.numel() - offset);
    }

    private static void gemm(HostDevice d, GemmParams g) {
        d.gemm(g);   // validates every operand's extent
    }
}
