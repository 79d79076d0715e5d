import Foundation
import Testing

/// `protein-tool bench generate` and `bench train --forward-only` end to end, at tiny sizes: the
/// documented JSON keys, the state sizes the generator's layout implies, skipped positions, the
/// forward-only FLOP count and one-line flag errors. Timings are never asserted.
@Suite struct BenchInferenceTests {
    func jsonRows(_ result: CLIResult) throws -> [[String: Any]] {
        let parsed = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8))
        return try #require(parsed as? [[String: Any]], "stdout is not a JSON array of objects: \(result.stdout)")
    }

    @Test func generateReportsEveryKernelAndPositionWithItsStateSize() throws {
        // tiny preset: dim 64, 2 layers, 4 heads (head dim 16), m 64.
        let result = try CLI.run(["bench", "generate", "--preset", "tiny", "--positions", "16,8", "--block", "4",
                                  "--max-exact-position", "8", "--format", "json"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let rows = try jsonRows(result)
        #expect(rows.map { "\($0["kernel"] ?? "") \($0["position"] ?? "")" }
            == ["favor-relu 8", "favor-relu 16", "favor-softmax 8", "favor-softmax 16", "exact 8", "exact 16"])
        for row in rows {
            for key in ["kernel", "position", "block", "us_per_step", "min_us_per_step", "ratio_to_first", "state_bytes",
                        "load_average", "dim", "layers", "heads", "features", "ffn_dim", "parameters", "blas_threads", "seed"] {
                #expect(row[key] != nil, "missing \(key) in \(row)")
            }
            #expect(row["block"] as? Int == 4)
            let kernel = try #require(row["kernel"] as? String)
            let position = try #require(row["position"] as? Int)
            if kernel == "exact" && position == 16 {
                #expect(row["us_per_step"] is NSNull)
                #expect((row["skipped"] as? String)?.contains("--max-exact-position 8") == true)
                continue
            }
            #expect(try #require(row["us_per_step"] as? Double) > 0)
            if position == 8 { #expect((row["ratio_to_first"] as? NSNumber)?.doubleValue == 1) }
            // FAVOR: layers·heads·m·(head dim + 1) floats at any position; exact: keys and values,
            // 2·layers·position·dim floats.
            let expected = kernel == "exact" ? 4 * 2 * 2 * position * 64 : 4 * 2 * 4 * 64 * (16 + 1)
            #expect(row["state_bytes"] as? Int == expected, "\(kernel) at \(position)")
        }
    }

    @Test func generateTextSaysWhatWasSkipped() throws {
        let result = try CLI.run(["bench", "generate", "--preset", "tiny", "--kernels", "exact", "--positions", "4,8",
                                  "--block", "2", "--max-exact-position", "4"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("µs/step"))
        #expect(result.stdout.split(separator: "\n").contains { $0.hasPrefix("exact\t8\tskipped") })
    }

    @Test(arguments: [
        (["--positions", "16", "--block", "32"], "--block 32"),
        (["--positions", "0"], "--positions"),
        (["--positions", "abc"], "--positions"),
        (["--block", "0"], "--block"),
        (["--kernels", "identity"], "identity"),
        (["--max-exact-position", "0"], "--max-exact-position"),
        (["--format", "yaml"], "yaml"),
    ])
    func generateBadFlagsAreOneLineErrors(arguments: [String], mentioning text: String) throws {
        let result = try CLI.run(["bench", "generate"] + arguments)
        #expect(result.status != 0)
        let lines = result.stderr.split(separator: "\n").filter { $0.hasPrefix("Error:") }
        #expect(lines.count == 1, "stderr: \(result.stderr)")
        #expect(lines.first?.contains(text) == true, "stderr: \(result.stderr)")
        #expect(result.stdout.isEmpty)
    }

    @Test func trainForwardOnlyCountsTheForwardFlops() throws {
        let arguments = ["bench", "train", "--preset", "tiny", "--kernels", "favor-relu", "--objectives", "mlm",
                         "--shapes", "16x1", "--steps", "1", "--warmup", "0", "--format", "json"]
        let step = try jsonRows(try CLI.run(arguments))
        let forward = try jsonRows(try CLI.run(arguments + ["--forward-only"]))
        #expect(step.first?["forward_only"] as? Bool == false)
        #expect(forward.first?["forward_only"] as? Bool == true)
        #expect(forward.first?["tokens_per_s"] is Double)
        // A step counts the forward once and the backward as two forwards.
        let stepFlops = try #require(step.first?["model_gflops_per_step"] as? Double)
        let forwardFlops = try #require(forward.first?["model_gflops_per_step"] as? Double)
        #expect(abs(stepFlops - 3 * forwardFlops) <= 1e-9 * stepFlops)
    }
}
