import Testing
import ProteinIO
@testable import PerformerModel

/// The composed multi-head kernels: gradients end to end, causality through the feature maps and
/// stabilisers, FAVOR+ converging to exact softmax, positive vs trigonometric features, and
/// determinism across slice schedules.
@Suite struct AttentionKernelTests {
    struct Problem {
        let b: Int, h: Int, l: Int, d: Int
        let q: Tensor, k: Tensor, v: Tensor
        init(batch b: Int, heads h: Int, length l: Int, headDim d: Int, seed: UInt64, std: Float = 1) {
            self.b = b; self.h = h; self.l = l; self.d = d
            q = randomTensor([b, h, l, d], seed: seed, std: std)
            k = randomTensor([b, h, l, d], seed: seed + 1, std: std)
            v = randomTensor([b, h, l, d], seed: seed + 2)
        }
        var shape: [Int] { [b, h, l, d] }
    }

    struct Run {
        let out: Tensor, dq: Tensor, dk: Tensor, dv: Tensor, saved: AttentionKernel.Saved
    }

    /// forward, then backward with dOut (when given).
    func run(_ kernel: AttentionKernel, _ p: Problem, dOut: Tensor? = nil) -> Run {
        let saved = kernel.makeSaved(batch: p.b, heads: p.h, length: p.l)
        let out = Tensor(shape: p.shape)
        kernel.forward(out: out, query: p.q, key: p.k, value: p.v, saving: saved)
        let dq = Tensor(shape: p.shape), dk = Tensor(shape: p.shape), dv = Tensor(shape: p.shape)
        if let dOut {
            kernel.backward(dQuery: dq, dKey: dk, dValue: dv, dOut: dOut, out: out,
                            query: p.q, key: p.k, value: p.v, saved: saved)
        }
        return Run(out: out, dq: dq, dk: dk, dv: dv, saved: saved)
    }

    /// Double reference of the whole kernel over [batch, heads, length, headDim], composed from the
    /// per-slice references; the FAVOR stabilisers are frozen at their values for `frozenAt`.
    func reference(_ kernel: AttentionKernel, _ p: Problem, frozenAt: (q: [Double], k: [Double]))
        -> (_ q: [Double], _ k: [Double], _ v: [Double]) -> [Double]
    {
        let l = p.l, d = p.d, m = kernel.features, slices = p.b * p.h, causal = kernel.causal
        let w = kernel.randomFeatures?.weights.doubles ?? []
        let epsilon = Double(kernel.epsilon)
        func slice(_ x: [Double], _ s: Int) -> [Double] { Array(x[(s * l * d)..<((s + 1) * l * d)]) }
        var frozenQ: [[Double]] = [], frozenK: [[Double]] = []
        if kernel.kind == .favorSoftmax {
            for s in 0..<slices {
                frozenQ.append(FavorSoftmaxFeaturesReference.queries(
                    input: slice(frozenAt.q, s), weights: w, length: l, features: m, headDim: d, epsilon: 0).stabilizer)
                frozenK.append(FavorSoftmaxFeaturesReference.keys(
                    input: slice(frozenAt.k, s), weights: w, length: l, features: m, headDim: d).logScale)
            }
        }
        return { q, k, v in
            var out: [Double] = []
            for s in 0..<slices {
                let (qs, ks, vs) = (slice(q, s), slice(k, s), slice(v, s))
                switch kernel.kind {
                case .identity:
                    out += vs
                case .exact:
                    out += ExactAttentionReference.forward(query: qs, key: ks, value: vs, length: l, headDim: d, causal: causal)
                case .favorSoftmax:
                    let qf = FavorSoftmaxFeaturesReference.queries(
                        input: qs, weights: w, length: l, features: m, headDim: d, epsilon: epsilon, stabilizer: frozenQ[s])
                    let kf = FavorSoftmaxFeaturesReference.keys(
                        input: ks, weights: w, length: l, features: m, headDim: d, stabilizer: frozenK[s])
                    out += LinearAttentionReference.forward(
                        queryFeatures: qf.features, keyFeatures: kf.features, keyLogScale: kf.logScale, values: vs,
                        length: l, features: m, headDim: d, causal: causal)
                case .favorRelu:
                    let qf = FavorReluFeaturesReference.forward(input: qs, weights: w, length: l, features: m, headDim: d, epsilon: epsilon)
                    let kf = FavorReluFeaturesReference.forward(input: ks, weights: w, length: l, features: m, headDim: d, epsilon: epsilon)
                    out += LinearAttentionReference.forward(
                        queryFeatures: qf, keyFeatures: kf, keyLogScale: nil, values: vs,
                        length: l, features: m, headDim: d, causal: causal)
                }
            }
            return out
        }
    }

    static let allConfigurations: [(AttentionKind, Bool)] = AttentionKind.allCases.flatMap { [($0, false), ($0, true)] }

    /// Forward against the composed Double reference, and dQ, dK, dV of Σ r ⊙ out against central
    /// differences of it (random features and stabilisers held fixed).
    @Test(arguments: allConfigurations)
    func forwardAndGradientsMatchReference(kind: AttentionKind, causal: Bool) {
        let p = Problem(batch: 2, heads: 2, length: 6, headDim: 4, seed: 40)
        let kernel = AttentionKernel(kind: kind, headDim: p.d, causal: causal, features: 8, seed: 1041)
        let r = randomDoubles(p.q.count, seed: 42)
        let result = run(kernel, p, dOut: tensor(p.shape, r))
        let (qd, kd, vd) = (p.q.doubles, p.k.doubles, p.v.doubles)
        let f = reference(kernel, p, frozenAt: (qd, kd))
        #expect(maxRelativeDifference(result.out.array, f(qd, kd, vd), floor: 1e-3) < 1e-4)
        let numeric = [
            GradientCheck.numericGradient(at: qd, weights: r) { f($0, kd, vd) },
            GradientCheck.numericGradient(at: kd, weights: r) { f(qd, $0, vd) },
            GradientCheck.numericGradient(at: vd, weights: r) { f(qd, kd, $0) },
        ]
        for (name, analytic, numeric) in zip3(["dQ", "dK", "dV"], [result.dq.array, result.dk.array, result.dv.array], numeric) {
            let report = GradientCheck.compare("\(kind.rawValue)\(causal ? " causal" : "") \(name)", analytic: analytic, numeric: numeric)
            if kind == .identity && name != "dV" {
                #expect(report.maxRelativeError == 0 && analytic.allSatisfy { $0 == 0 }, "\(report)")
            } else {
                // The chunked causal contraction runs in Float32 throughout (its O(L²) twin
                // accumulated in Double), and dQ of favor-softmax cancels analytically in its
                // −x·Σ dq′q′ term, so a near-zero entry of causal dQ may carry ~1.6e-3 relative
                // noise; the mean bound stays 1e-4 for every case.
                let maxBound = causal && kind == .favorSoftmax ? 3e-3 : 1e-3
                #expect(report.maxRelativeError < maxBound, "\(report)")
                #expect(report.meanRelativeError < 1e-4, "\(report)")
            }
        }
    }

    /// The FAVOR backward hands the feature gradients to the maps' backward in blocks of rows
    /// (bidirectionally 32 rows at m = 1024, causally one chunk of 24; 70 rows are three blocks):
    /// the same gradients as the contraction's backward over the whole sequence in one block
    /// followed by the maps' backward over all rows.
    @Test(arguments: [AttentionKind.favorSoftmax, .favorRelu], [false, true])
    func blockedFeatureBackwardMatchesWholeSequence(kind: AttentionKind, causal: Bool) {
        let p = Problem(batch: 1, heads: 2, length: 70, headDim: 4, seed: 60)
        let m = 1024, l = p.l, d = p.d
        #expect(BidirectionalLinearAttention.blockRows(features: m) * 2 < l)
        let kernel = AttentionKernel(kind: kind, headDim: d, causal: causal, features: m, seed: 161)
        #expect(!causal || CausalLinearAttention.groupChunks(features: m, chunk: kernel.chunk) * kernel.chunk * 2 < l)
        let dOut = randomTensor(p.shape, seed: 62)
        let result = run(kernel, p, dOut: dOut)
        let saved = result.saved, w = kernel.randomFeatures!.weights.data
        let dq = Tensor(shape: p.shape), dk = Tensor(shape: p.shape), dv = Tensor(shape: p.shape)
        for s in 0..<(p.b * p.h) {
            let dqf = Tensor(shape: [l, m]), dkf = Tensor(shape: [l, m])
            let qf = saved.queryFeatures.data + s * l * m, kf = saved.keyFeatures.data + s * l * m
            let logScale = kind == .favorSoftmax ? saved.keyLogScale.data + s * l : nil
            if causal {
                CausalLinearAttention.backward(
                    dQueryFeatures: dqf.data, dKeyFeatures: dkf.data, dValues: dv.data + s * l * d,
                    dOut: dOut.data + s * l * d, out: result.out.data + s * l * d, normalizer: saved.normalizer.data + s * l,
                    queryFeatures: qf, keyFeatures: kf, keyLogScale: logScale, values: p.v.data + s * l * d,
                    length: l, features: m, headDim: d, chunk: kernel.chunk, chunksPerGroup: l)
            } else {
                BidirectionalLinearAttention.backward(
                    dQueryFeatures: dqf.data, dKeyFeatures: dkf.data, dValues: dv.data + s * l * d,
                    dOut: dOut.data + s * l * d, out: result.out.data + s * l * d, normalizer: saved.normalizer.data + s * l,
                    queryFeatures: qf, keyFeatures: kf, keyLogScale: logScale,
                    values: p.v.data + s * l * d, length: l, features: m, headDim: d, blockRows: l)
            }
            if kind == .favorSoftmax {
                FavorSoftmaxFeatures.backward(dInput: dq.data + s * l * d, dOut: dqf.data, out: qf, input: p.q.data + s * l * d,
                                              weights: w, length: l, features: m, headDim: d, epsilon: kernel.epsilon)
                FavorSoftmaxFeatures.backward(dInput: dk.data + s * l * d, dOut: dkf.data, out: kf, input: p.k.data + s * l * d,
                                              weights: w, length: l, features: m, headDim: d, epsilon: 0)
            } else {
                FavorReluFeatures.backward(dInput: dq.data + s * l * d, dOut: dqf.data, out: qf,
                                           weights: w, length: l, features: m, headDim: d, epsilon: kernel.epsilon)
                FavorReluFeatures.backward(dInput: dk.data + s * l * d, dOut: dkf.data, out: kf,
                                           weights: w, length: l, features: m, headDim: d, epsilon: kernel.epsilon)
            }
        }
        for (name, blocked, whole) in zip3(["dQ", "dK", "dV"], [result.dq, result.dk, result.dv], [dq, dk, dv]) {
            // Normwise: the two paths run the same arithmetic on differently placed buffers, and
            // measured differ by ~1e-7 absolute at most (entries near 0 included).
            let difference = normwiseError(blocked.array, whole.array)
            #expect(difference < 1e-6, "\(kind.rawValue)\(causal ? " causal" : "") \(name): \(difference)")
        }
    }

    /// Changing queries, keys or values after position i leaves every output at positions ≤ i
    /// bit-identical. The future keys are made large, so their stabilisers exceed every past one:
    /// a whole-sequence key maximum would leak them into the past through rounding.
    @Test(arguments: [AttentionKind.exact, .favorSoftmax, .favorRelu])
    func causalOutputsIgnoreTheFuture(kind: AttentionKind) {
        let p = Problem(batch: 1, heads: 2, length: 24, headDim: 8, seed: 50)
        let kernel = AttentionKernel(kind: kind, headDim: p.d, causal: true, features: 16, seed: 151)
        let before = run(kernel, p).out
        let cut = 10
        let changed = Problem(batch: 1, heads: 2, length: 24, headDim: 8, seed: 50)
        var g = SeededGenerator(seed: 52)
        for s in 0..<(p.b * p.h) {
            for i in (cut + 1)..<p.l {
                for c in 0..<p.d {
                    let index = (s * p.l + i) * p.d + c
                    changed.q[index] = Float(g.nextGaussian())
                    changed.k[index] = 4 * Float(g.nextGaussian())
                    changed.v[index] = Float(g.nextGaussian())
                }
            }
        }
        let after = run(kernel, changed).out
        var differentFuture = false
        for s in 0..<(p.b * p.h) {
            for i in 0..<p.l {
                for c in 0..<p.d {
                    let index = (s * p.l + i) * p.d + c
                    if i <= cut {
                        #expect(before[index].bitPattern == after[index].bitPattern, "slice \(s) position \(i)")
                    } else if before[index] != after[index] {
                        differentFuture = true
                    }
                }
            }
        }
        #expect(differentFuture)
    }

    /// Key lengths: rows padded at the end (with large junk keys, which would dominate the
    /// favor-softmax stabiliser and the exact softmax if read) give, at their real positions, the
    /// outputs of a pass at exactly their length.
    @Test(arguments: [AttentionKind.exact, .favorSoftmax, .favorRelu])
    func keyLengthsIgnoreEndPadding(kind: AttentionKind) {
        let (h, l, d) = (2, 20, 8)
        let lengths = [20, 7, 13]
        let padded = Problem(batch: lengths.count, heads: h, length: l, headDim: d, seed: 60)
        var g = SeededGenerator(seed: 61)
        for (b, n) in lengths.enumerated() {
            for s in (b * h)..<((b + 1) * h) {
                for i in n..<l {
                    for c in 0..<d { padded.k[(s * l + i) * d + c] = 6 * Float(g.nextGaussian()) }
                }
            }
        }
        let kernel = AttentionKernel(kind: kind, headDim: d, features: 16, seed: 162)
        let saved = kernel.makeSaved(batch: lengths.count, heads: h, length: l)
        let out = Tensor(shape: padded.shape)
        kernel.forward(out: out, query: padded.q, key: padded.k, value: padded.v, saving: saved, keyLengths: lengths)
        #expect(saved.keyLengths == lengths)
        for (b, n) in lengths.enumerated() {
            // Row b alone, cut to its n real positions.
            let alone = Problem(batch: 1, heads: h, length: n, headDim: d, seed: 0)
            for head in 0..<h {
                let from = ((b * h + head) * l) * d, to = head * n * d
                for x in 0..<(n * d) {
                    alone.q[to + x] = padded.q[from + x]
                    alone.k[to + x] = padded.k[from + x]
                    alone.v[to + x] = padded.v[from + x]
                }
            }
            let expected = run(kernel, alone).out
            for head in 0..<h {
                for x in 0..<(n * d) {
                    let got = out[((b * h + head) * l) * d + x], want = expected[head * n * d + x]
                    #expect(abs(got - want) <= 1e-5 * max(1, abs(want)), "\(kind) row \(b) head \(head) element \(x)")
                }
            }
        }
        // The full-length row equals a pass without key lengths, and nil resets the record.
        let plain = run(kernel, padded)
        #expect(plain.saved.keyLengths == nil)
        for x in 0..<(h * l * d) { #expect(abs(out[x] - plain.out[x]) <= 1e-6 * max(1, abs(plain.out[x]))) }
    }

    /// Mean |favor − exact| over the outputs, for `features` random features, averaged over seeds.
    func favorError(features: Int, seeds: ClosedRange<UInt64>, _ p: Problem, exact: Tensor) -> Double {
        var total = 0.0
        for seed in seeds {
            let kernel = AttentionKernel(kind: .favorSoftmax, headDim: p.d, features: features, seed: seed, parallelism: .serial)
            let out = run(kernel, p).out
            var error = 0.0
            for i in 0..<out.count { error += abs(Double(out[i]) - Double(exact[i])) }
            total += error / Double(out.count)
        }
        return total / Double(seeds.count)
    }

    /// FAVOR+ converges to softmax attention as m grows (the error falls like 1/√m once m is
    /// large). Queries and keys ~ N(0, 0.7²) with d = 16 give logits q·k/√d with standard deviation
    /// 0.49 (each row of 64 keys spans about ±1.5). The mean error over five seeds must fall from
    /// m = 16 to 64 to 256, and at m = 256 be below 0.6× its value at m = 16 (measured 0.40; the
    /// 1/√m rate, 0.25, is only reached at larger m).
    @Test func favorSoftmaxConvergesToExactAttention() {
        let p = Problem(batch: 1, heads: 4, length: 64, headDim: 16, seed: 60, std: 0.7)
        let exact = run(AttentionKernel(kind: .exact, headDim: p.d), p).out
        let errors = [16, 64, 256].map { favorError(features: $0, seeds: 1...5, p, exact: exact) }
        #expect(errors[0] > errors[1] && errors[1] > errors[2], "errors \(errors)")
        #expect(errors[2] < 0.6 * errors[0], "errors \(errors)")
    }

    /// Positive features against trigonometric ones with the same W (so trig even gets 2m
    /// features) at logits of order 1 (q, k ~ N(0, 1), d = 16: logit standard deviation 1): the
    /// positive estimate of the attention output must be more than 3× as accurate (measured: mean
    /// error 0.16 vs 1.27, 8×). Choromanski et al. 2021, §2.3: sin/cos weights can be negative and
    /// their normaliser can come close to zero.
    @Test func positiveFeaturesBeatTrigonometricFeatures() {
        let l = 64, d = 16, m = 64
        var positiveError = 0.0, trigError = 0.0
        for seed in UInt64(1)...5 {
            let p = Problem(batch: 1, heads: 1, length: l, headDim: d, seed: 70 + 10 * seed)
            let exact = run(AttentionKernel(kind: .exact, headDim: d), p).out
            let w = RandomFeatures(features: m, headDim: d, distribution: .orthogonal, seed: seed)
            let positive = run(AttentionKernel(kind: .favorSoftmax, headDim: d, randomFeatures: w), p).out
            let qt = Tensor(shape: [l, 2 * m]), kt = Tensor(shape: [l, 2 * m])
            TrigFeatures.forward(out: qt.data, input: p.q.data, weights: w.weights.data, length: l, features: m, headDim: d)
            TrigFeatures.forward(out: kt.data, input: p.k.data, weights: w.weights.data, length: l, features: m, headDim: d)
            let trig = Tensor(shape: [l, d]), normalizer = Tensor(shape: [l])
            BidirectionalLinearAttention.forward(out: trig.data, normalizer: normalizer.data, queryFeatures: qt.data,
                                                 keyFeatures: kt.data, keyLogScale: nil, values: p.v.data,
                                                 length: l, features: 2 * m, headDim: d)
            for i in 0..<(l * d) {
                positiveError += abs(Double(positive[i]) - Double(exact[i]))
                trigError += abs(Double(trig[i]) - Double(exact[i]))
            }
        }
        #expect(trigError > 3 * positiveError, "mean errors: positive \(positiveError / 5 / Double(l * d)), trig \(trigError / 5 / Double(l * d))")
    }

    /// Serial and two-worker schedules give bit-identical outputs and gradients.
    @Test(arguments: [AttentionKind.exact, .favorSoftmax, .favorRelu])
    func scheduleDoesNotChangeResults(kind: AttentionKind) {
        let p = Problem(batch: 2, heads: 3, length: 40, headDim: 8, seed: 80)
        let dOut = randomTensor(p.shape, seed: 183)
        let serial = run(AttentionKernel(kind: kind, headDim: p.d, features: 32, seed: 182, parallelism: .serial), p, dOut: dOut)
        let parallel = run(AttentionKernel(kind: kind, headDim: p.d, features: 32, seed: 182, parallelism: .workers(2)), p, dOut: dOut)
        #expect(serial.out.array == parallel.out.array)
        #expect(serial.dq.array == parallel.dq.array)
        #expect(serial.dk.array == parallel.dk.array)
        #expect(serial.dv.array == parallel.dv.array)
    }

    /// What is kept for backward: FAVOR keeps O(L·m) per slice, exact O(L), identity nothing.
    @Test func savedMemoryFollowsTheKind() {
        let (b, h, l, d, m) = (1, 2, 100, 8, 16)
        func saved(_ kind: AttentionKind) -> Int {
            AttentionKernel(kind: kind, headDim: d, features: m).makeSaved(batch: b, heads: h, length: l).savedByteCount
        }
        #expect(saved(.favorSoftmax) == 4 * (2 * b * h * l * m + 2 * b * h * l))
        #expect(saved(.favorRelu) == 4 * (2 * b * h * l * m + b * h * l))
        #expect(saved(.exact) == 4 * b * h * l)
        #expect(saved(.identity) == 0)
        // Causal FAVOR also keeps its chunk products: n² per chunk of n rows, at most L·C.
        let chunk = 24
        let products = 4 * 24 * 24 + 4 * 4  // 100 rows: four chunks of 24, then one of 4
        #expect(CausalLinearAttention.chunkProductCount(length: l, chunk: chunk) == products)
        let causalRelu = AttentionKernel(kind: .favorRelu, headDim: d, causal: true, features: m, chunk: chunk)
        #expect(causalRelu.makeSaved(batch: b, heads: h, length: l).savedByteCount
                == 4 * (2 * b * h * l * m + b * h * l + b * h * products))
        let causalExact = AttentionKernel(kind: .exact, headDim: d, causal: true)
        #expect(causalExact.makeSaved(batch: b, heads: h, length: l).savedByteCount == 4 * b * h * l)
    }
}
