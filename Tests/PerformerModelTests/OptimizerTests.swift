import Foundation
import Testing
import ProteinIO
@testable import PerformerModel

/// A reproducible AdamW problem: initial values, one gradient vector per step (with varying
/// scales, some exact zeros and one large outlier), per-step learning rates and a decay mask
/// with overlapping ranges.
struct AdamWProblem {
    var count: Int
    var values: [Float]
    var gradients: [[Float]]
    var learningRates: [Float]
    var decayMask: [Range<Int>]

    init(count: Int = 1000, steps: Int = 8, seed: UInt64 = 3) {
        var g = SeededGenerator(seed: seed)
        self.count = count
        values = (0..<count).map { _ in Float(g.nextGaussian()) }
        let schedule = LearningRateSchedule(peak: 3e-2, warmupSteps: 3, totalSteps: steps, minRatio: 0.1)
        gradients = (1...steps).map { step in
            let scale = Float([0.01, 1, 10, 0.3][step % 4])
            return (0..<count).map { i in i % 17 == 0 ? 0 : (i == 5 ? 1e3 : scale * Float(g.nextGaussian())) }
        }
        learningRates = (1...steps).map { schedule.learningRate(step: $0) }
        decayMask = [count * 7 / 10 ..< count, 0 ..< count * 3 / 10, count / 4 ..< count * 2 / 5]
    }

    /// Runs the Swift optimizer; returns (values, m, v, stepCount).
    func runSwift(beta2: Float = 0.98) -> (values: [Float], m: [Float], v: [Float], steps: Int) {
        let optimizer = AdamW(parameterCount: count, beta2: beta2)
        let p = Tensor(shape: [count], values: values)
        for (gradient, lr) in zip(gradients, learningRates) {
            gradient.withUnsafeBufferPointer { g in
                optimizer.step(values: p.data, gradients: g.baseAddress.unsafelyUnwrapped, count: count, learningRate: lr, decayMask: decayMask)
            }
        }
        return (p.array, optimizer.m.array, optimizer.v.array, optimizer.stepCount)
    }
}

/// Distance in units in the last place between two floats of the same sign (∞ across signs).
func ulpDistance(_ a: Float, _ b: Float) -> Int {
    if a == b { return 0 }
    guard a.sign == b.sign, a.isFinite, b.isFinite else { return Int.max }
    return abs(Int(a.bitPattern) - Int(b.bitPattern))
}

@Suite struct AdamWTests {
    @Test func matchesTheDoubleReference() {
        let problem = AdamWProblem()
        let swift = problem.runSwift()
        let h = AdamW.Hyperparameters()
        var p = problem.values.map(Double.init)
        var m = [Double](repeating: 0, count: problem.count), v = m
        for (t, (gradient, lr)) in zip(problem.gradients, problem.learningRates).enumerated() {
            AdamW.stepReference(values: &p, gradients: gradient.map(Double.init), m: &m, v: &v, t: t + 1,
                                learningRate: Double(lr), hyperparameters: h, decayMask: problem.decayMask)
        }
        // Bounds: |p| ≲ 4 and each of the 8 steps rounds p to Float (≤ 2.4e-7 each), so the
        // parameters agree to 2e-6 absolute. v agrees to 1e-6 relative; m, a running mean that
        // can cancel to ~0, to 1e-6 of the gradient's RMS √v.
        let valueError = zip(swift.values, p).map { abs(Double($0) - $1) }.max() ?? 0
        var mError = 0.0
        for i in 0..<problem.count { mError = max(mError, abs(Double(swift.m[i]) - m[i]) / max(v[i].squareRoot(), 1e-30)) }
        let vError = zip(swift.v, v).map { abs(Double($0) - $1) / max(abs($1), 1e-30) }.max() ?? 0
        print("AdamW vs Double reference: max |p − p_ref| \(valueError), m error / √v \(mError), v relative \(vError)")
        #expect(valueError < 2e-6, "max |p − p_ref| = \(valueError)")
        #expect(mError < 1e-6 && vError < 1e-6, "moments: \(mError), \(vError)")
        #expect(swift.steps == 8)
        // The decay mask matters: without decay on index 0 the result differs.
        #expect(abs(Double(swift.values[0]) - p[0]) < 2e-6)
    }

    @Test func eightLaneAndScalarLoopsAgreeBitForBit() {
        // The same update through the SIMD8 loop (one call over the range) and through the
        // scalar tail only (one call per element).
        let problem = AdamWProblem(count: 203, steps: 1, seed: 11)
        let c = AdamW.StepConstants(oneMinusBeta1: 0.1, beta2: 0.98, oneMinusBeta2: 0.02, negativeStepSize: -0.03,
                                    biasCorrection2Sqrt: 0.5, epsilon: 1e-8)
        func run(elementwise: Bool) -> [[Float]] {
            let p = Tensor(shape: [203], values: problem.values), g = Tensor(shape: [203], values: problem.gradients[0])
            let m = Tensor(shape: [203], values: problem.values.map { $0 * 0.1 }), v = Tensor(shape: [203], values: problem.values.map { $0 * $0 })
            if elementwise {
                for i in 0..<203 { AdamW.update(p.data, g.data, m.data, v.data, i ..< i + 1, decayFactor: 0.999, c) }
            } else {
                AdamW.update(p.data, g.data, m.data, v.data, 0 ..< 203, decayFactor: 0.999, c)
            }
            return [p.array.bitPatterns, m.array.bitPatterns, v.array.bitPatterns].map { $0.map { Float(bitPattern: $0) } }
        }
        let vectorised = run(elementwise: false), scalar = run(elementwise: true)
        for (a, b) in zip(vectorised, scalar) { #expect(a.bitPatterns == b.bitPatterns) }
    }

    @Test func decayMaskRangesAreSortedAndMerged() {
        #expect(AdamW.merged([5..<9, 0..<2, 1..<3, 9..<10, 4..<4], count: 10) == [0..<3, 5..<10])
        #expect(AdamW.merged([], count: 10) == [])
    }

    @Test func weightDecayIsDecoupledAndOnlyInsideTheMask() {
        // Zero gradients: m = v = 0, the Adam term is 0/(0 + ε) = 0, so only the decay acts:
        // p ← p · (1 − lr·λ) inside the mask, p unchanged outside.
        let optimizer = AdamW(parameterCount: 4, weightDecay: 0.5)
        let p = Tensor(shape: [4], values: [1, 2, 3, 4])
        let zero = [Float](repeating: 0, count: 4)
        zero.withUnsafeBufferPointer { g in
            optimizer.step(values: p.data, gradients: g.baseAddress.unsafelyUnwrapped, count: 4, learningRate: 0.1, decayMask: [1..<3])
        }
        #expect(p.array == [1, 2 * Float(1 - 0.1 * 0.5), 3 * Float(1 - 0.1 * 0.5), 4])
    }

    @Test func firstStepMovesEachParameterByTheLearningRate() {
        // With bias correction, step 1 has m̂ = g and v̂ = g², so p moves by −lr·g/(|g| + ε) ≈ −lr·sign(g).
        let optimizer = AdamW(parameterCount: 3, weightDecay: 0)
        let p = Tensor(shape: [3], values: [0, 0, 0])
        let g: [Float] = [0.5, -2, 1e-3]
        g.withUnsafeBufferPointer { g in
            optimizer.step(values: p.data, gradients: g.baseAddress.unsafelyUnwrapped, count: 3, learningRate: 0.01, decayMask: [])
        }
        for (value, gradient) in zip(p.array, g) {
            let expected = -0.01 * Double(gradient) / (abs(Double(gradient)) + 1e-8)
            #expect(abs(Double(value) - expected) < 1e-9, "\(value) vs \(expected)")
        }
    }

    /// torch.optim.AdamW (foreach=False, two param groups for the decay mask) on the same
    /// inputs, exchanged as Float32 bit patterns. One python process runs every configuration
    /// of the input list (importing torch is the slow part).
    static let torchScript = #"""
import json, struct, sys
try:
    import torch
except ImportError:
    print("NO TORCH")
    sys.exit(0)
torch.set_num_threads(1)
def floats(bits):
    return list(struct.unpack("<%df" % len(bits), struct.pack("<%dI" % len(bits), *bits)))
def bits(t):
    v = t.detach().contiguous().view(-1).tolist()
    return list(struct.unpack("<%dI" % len(v), struct.pack("<%df" % len(v), *v)))
def run(cfg):
    n = len(cfg["values"])
    decay = [False] * n
    for lo, hi in cfg["mask"]:
        for i in range(lo, hi):
            decay[i] = True
    segments, i = [], 0
    while i < n:
        j = i
        while j < n and decay[j] == decay[i]:
            j += 1
        segments.append((i, j, decay[i]))
        i = j
    values = floats(cfg["values"])
    params = [torch.nn.Parameter(torch.tensor(values[lo:hi], dtype=torch.float32)) for lo, hi, _ in segments]
    groups = [{"params": [p for p, s in zip(params, segments) if s[2]], "weight_decay": cfg["wd"]},
              {"params": [p for p, s in zip(params, segments) if not s[2]], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=cfg["lrs"][0], betas=(cfg["beta1"], cfg["beta2"]), eps=cfg["eps"], foreach=False)
    for grads, lr in zip(cfg["grads"], cfg["lrs"]):
        g = floats(grads)
        for p, (lo, hi, _) in zip(params, segments):
            p.grad = torch.tensor(g[lo:hi], dtype=torch.float32)
        for group in opt.param_groups:
            group["lr"] = lr
        opt.step()
    out = {"values": [], "m": [], "v": []}
    for p in params:
        out["values"] += bits(p)
        out["m"] += bits(opt.state[p]["exp_avg"])
        out["v"] += bits(opt.state[p]["exp_avg_sq"])
    out["step"] = int(opt.state[params[0]]["step"].item())
    return out
print(json.dumps([run(cfg) for cfg in json.load(open(sys.argv[1]))]))
"""#

    @Test func matchesTorchAdamW() throws {
        let problem = AdamWProblem()
        let betas: [Float] = [0.98, 0.999]
        // Doubles of the Float settings (shortest round-trip text), so torch computes its
        // scalars from the same numbers.
        func list<T>(_ xs: [T]) -> String { "[" + xs.map { "\($0)" }.joined(separator: ",") + "]" }
        let mask = AdamW.merged(problem.decayMask, count: problem.count).map { "[\($0.lowerBound),\($0.upperBound)]" }
        let configurations = betas.map { beta2 in
            let h = AdamW.Hyperparameters(beta2: beta2)
            return """
                {"values": \(list(problem.values.bitPatterns)), "grads": [\(problem.gradients.map { list($0.bitPatterns) }.joined(separator: ","))],
                 "lrs": \(list(problem.learningRates.map(Double.init))), "beta1": \(Double(h.beta1)), "beta2": \(Double(h.beta2)),
                 "eps": \(Double(h.epsilon)), "wd": \(Double(h.weightDecay)), "mask": [\(mask.joined(separator: ","))]}
                """
        }
        let dir = try ScratchDirectory("torch-adamw")
        defer { dir.remove() }
        let inputPath = dir.file("input.json")
        try Data(("[" + configurations.joined(separator: ",") + "]").utf8).write(to: URL(fileURLWithPath: inputPath))
        guard let output = PythonRunner.run(Self.torchScript, arguments: [inputPath]), output.stdout != "NO TORCH\n" else {
            print("skipped: python3 with torch is not available (AdamW vs torch.optim.AdamW cross-check)")
            return
        }
        #expect(output.status == 0, "python: \(output.stderr)")
        let results = try #require(try PythonRunner.json(output) as? [[String: Any]])
        try #require(results.count == betas.count)
        for (beta2, json) in zip(betas, results) {
            let swift = problem.runSwift(beta2: beta2)
            func floats(_ key: String) throws -> [Float] {
                try #require(json[key] as? [Int]).map { Float(bitPattern: UInt32(truncatingIfNeeded: $0)) }
            }
            let torchValues = try floats("values"), torchM = try floats("m"), torchV = try floats("v")
            try #require(torchValues.count == problem.count && torchM.count == problem.count && torchV.count == problem.count)
            #expect(json["step"] as? Int == swift.steps)
            // Same operations in the same order, with one difference: torch's vectorised lerp
            // fuses m + (1 − β₁)(g − m) into one multiply-add, ours rounds twice. So m differs
            // by ~1 ulp of its terms (measured against the gradient RMS √v, since m itself can
            // cancel to ~0), which reaches p as ~1e-7 of an update (lr ≤ 0.03) and sometimes
            // flips p's last bit. Bounds: v within 4 ulps, |Δm| ≤ 1e-6·√v,
            // |Δp| ≤ 2.5e-7·max(1, |p|) (2 ulps of a parameter of size 1).
            let vULPs = zip(swift.v, torchV).map(ulpDistance).max() ?? 0
            var mError = 0.0, pError = 0.0
            for i in 0..<problem.count {
                let scale = max(Double(torchV[i]).squareRoot(), 1e-30)
                mError = max(mError, abs(Double(swift.m[i]) - Double(torchM[i])) / scale)
                pError = max(pError, abs(Double(swift.values[i]) - Double(torchValues[i])) / max(1, abs(Double(torchValues[i]))))
            }
            let identical = zip(swift.values, torchValues).filter { $0.bitPattern == $1.bitPattern }.count
            print("AdamW vs torch (β₂ = \(beta2)): max |Δp|/max(1,|p|) \(pError), \(identical)/\(problem.count) parameters bit-identical, "
                  + "max |Δm|/√v \(mError), v within \(vULPs) ulp")
            #expect(vULPs <= 4 && mError <= 1e-6 && pError <= 2.5e-7, "β₂ \(beta2): Δp \(pError), Δm/√v \(mError), v ulps \(vULPs)")
        }
    }

    @Test func stateSurvivesACheckpointAndResumesBitForBit() throws {
        let problem = AdamWProblem(count: 257, steps: 6, seed: 9)
        let straight = problem.runSwift()

        // Three steps, checkpoint, a fresh optimizer restores, three more steps.
        let dir = try ScratchDirectory("adamw-resume")
        defer { dir.remove() }
        let path = dir.file("resume.safetensors")
        do {
            let optimizer = AdamW(parameterCount: problem.count)
            let p = Tensor(shape: [problem.count], values: problem.values)
            for (gradient, lr) in zip(problem.gradients, problem.learningRates).prefix(3) {
                gradient.withUnsafeBufferPointer { g in
                    optimizer.step(values: p.data, gradients: g.baseAddress.unsafelyUnwrapped, count: problem.count,
                                   learningRate: lr, decayMask: problem.decayMask)
                }
            }
            var writer = SafeTensorsWriter(metadata: ["step": "3"])
            writer.add(name: "values", tensor: p)
            optimizer.addState(to: &writer)
            try writer.write(to: path)
        }
        let reader = try SafeTensorsReader(path: path)
        #expect(reader.metadata["optimizer.hyperparameters"] == #"{"beta1":0.9,"beta2":0.98,"epsilon":1e-08,"weight_decay":0.01}"#)
        let optimizer = AdamW(parameterCount: problem.count)
        try optimizer.restoreState(from: reader)
        #expect(optimizer.stepCount == 3)
        let p = Tensor(shape: [problem.count])
        try reader.read(name: "values", into: p)
        for (gradient, lr) in zip(problem.gradients, problem.learningRates).dropFirst(3) {
            gradient.withUnsafeBufferPointer { g in
                optimizer.step(values: p.data, gradients: g.baseAddress.unsafelyUnwrapped, count: problem.count,
                               learningRate: lr, decayMask: problem.decayMask)
            }
        }
        #expect(p.array.bitPatterns == straight.values.bitPatterns)
        #expect(optimizer.m.array.bitPatterns == straight.m.bitPatterns)
        #expect(optimizer.v.array.bitPatterns == straight.v.bitPatterns)

        // A checkpoint of a different parameter count is refused and leaves the optimizer as it was.
        let other = AdamW(parameterCount: 10)
        do throws(CheckpointError) {
            try other.restoreState(from: reader)
            Issue.record("restored 257 moments into a 10-parameter optimizer")
        } catch {
            #expect(error.description == "\(path): tensor optimizer.m has shape [257], expected [10]")
        }
        #expect(other.stepCount == 0)
    }
}

@Suite struct LearningRateScheduleTests {
    @Test func boundaryStepsFollowTheFormula() {
        let s = LearningRateSchedule(peak: 1e-3, warmupSteps: 100, totalSteps: 1100, minRatio: 0.1)
        func close(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= 1e-15 }
        #expect(s.value(step: 0) == 0)
        #expect(close(s.value(step: 1), 1e-5))
        #expect(close(s.value(step: 50), 5e-4))
        #expect(s.value(step: 100) == 1e-3)
        // One step into the decay: η(r + (1 − r)·½(1 + cos(π/1000))).
        #expect(close(s.value(step: 101), 1e-3 * (0.1 + 0.9 * 0.5 * (1 + cos(Double.pi / 1000)))))
        #expect(close(s.value(step: 600), 1e-3 * (0.1 + 0.9 * 0.5)))  // halfway: cos(π/2) = 0
        #expect(close(s.value(step: 1100), 1e-4))
        #expect(close(s.value(step: 1099), 1e-3 * (0.1 + 0.9 * 0.5 * (1 + cos(Double.pi * 999 / 1000)))))
        #expect(s.value(step: 5000) == s.value(step: 1100))
        #expect(s.learningRate(step: 100) == Float(1e-3))
        // Rising through warmup, falling after it.
        let values = (0...1200).map { s.value(step: $0) }
        #expect(zip(values[0...100], values[1...101]).allSatisfy { $0 < $1 || $1 < 1e-3 })
        #expect(zip(values[100...1099], values[101...1100]).allSatisfy { $0 > $1 })
    }

    @Test func degenerateSchedules() {
        let noWarmup = LearningRateSchedule(peak: 2, warmupSteps: 0, totalSteps: 10, minRatio: 0)
        #expect(noWarmup.value(step: 0) == 2)
        #expect(abs(noWarmup.value(step: 5) - 1) < 1e-15)
        #expect(noWarmup.value(step: 10) == 0)
        let constantThenFloor = LearningRateSchedule(peak: 1, warmupSteps: 4, totalSteps: 4, minRatio: 0.5)
        #expect(constantThenFloor.value(step: 4) == 1 && constantThenFloor.value(step: 5) == 0.5)
        let constant = LearningRateSchedule(peak: 3e-4, warmupSteps: 0, totalSteps: 0, minRatio: 1)
        #expect(constant.value(step: 0) == 3e-4 && constant.value(step: 99) == 3e-4)
    }

    @Test func codableUsesSnakeCaseAndValidates() throws {
        let s = LearningRateSchedule(peak: 0.001, warmupSteps: 10, totalSteps: 20, minRatio: 0.1)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let text = String(decoding: try encoder.encode(s), as: UTF8.self)
        #expect(text == #"{"min_ratio":0.1,"peak":0.001,"total_steps":20,"warmup_steps":10}"#)
        #expect(try JSONDecoder().decode(LearningRateSchedule.self, from: Data(text.utf8)) == s)
        let bad = #"{"min_ratio":0.1,"peak":0.001,"total_steps":5,"warmup_steps":10}"#
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(LearningRateSchedule.self, from: Data(bad.utf8)) }
    }
}

@Suite struct GradientClippingTests {
    @Test func normMatchesTheReferenceAndClippingHitsMaxNorm() {
        var g = SeededGenerator(seed: 5)
        let values = (0..<10_007).map { _ in Float(g.nextGaussian()) * 3 }
        let norm = values.withUnsafeBufferPointer { GradientClipping.globalNorm($0.baseAddress.unsafelyUnwrapped, count: $0.count) }
        let reference = GradientClipping.globalNormReference(values)
        #expect(abs(norm - reference) <= 1e-12 * reference)

        let buffer = Tensor(shape: [values.count], values: values)
        let outcome = GradientClipping.clip(buffer.data, count: buffer.count, maxNorm: 1)
        #expect(outcome.norm == norm && outcome.isFinite && outcome.clipped)
        #expect(outcome.scale == Float(1 / norm))
        let after = GradientClipping.globalNorm(buffer.data, count: buffer.count)
        #expect(abs(after - 1) < 1e-6, "norm after clipping: \(after)")

        // Below the threshold, or clipping disabled: untouched, norm still reported.
        let small = Tensor(shape: [3], values: [3, 4, 0])
        for maxNorm in [5.0, 100, 0, .infinity] {
            let o = GradientClipping.clip(small.data, count: 3, maxNorm: maxNorm)
            #expect(o.norm == 5 && o.scale == 1 && !o.clipped)
            #expect(small.array == [3, 4, 0])
        }
        #expect(GradientClipping.globalNorm(small.data, count: 0) == 0)
    }

    @Test func nonFiniteGradientsAreReportedNotScaled() {
        for bad in [Float.nan, .infinity, -.infinity] {
            let buffer = Tensor(shape: [6], values: [1, 2, 3, bad, 5, 6])
            let outcome = GradientClipping.clip(buffer.data, count: 6, maxNorm: 1)
            #expect(!outcome.isFinite && outcome.scale == 1)
            #expect(buffer.array[0...2] == [1, 2, 3] && buffer.array[4...5] == [5, 6])
            #expect(GradientClipping.firstNonFinite(buffer.data, count: 6) == 3)
        }
        // Huge but finite values do not overflow the Double accumulator.
        let huge = Tensor(shape: [2], values: [.greatestFiniteMagnitude, .greatestFiniteMagnitude])
        #expect(GradientClipping.globalNorm(huge.data, count: 2).isFinite)
        let fine = Tensor(shape: [2], values: [1, 2])
        #expect(GradientClipping.firstNonFinite(fine.data, count: 2) == nil)
        #expect(GradientClipping.nonFiniteMessage(step: 1200, norm: .nan, location: "blocks.3.attn.wq[17]", value: .nan)
                == "step 1200: gradient norm is nan (first non-finite gradient: blocks.3.attn.wq[17] = nan); stopping before the update — lower the learning rate or check the data (the last checkpoint is intact)")
        #expect(GradientClipping.nonFiniteMessage(step: 7, norm: .infinity).hasPrefix("step 7: gradient norm is inf; stopping"))
    }
}
