import Foundation
import Testing

/// `protein-tool bench attention` and `bench approx` end to end, at tiny sizes: valid JSON with
/// the documented keys, skipped configurations, exit codes and one-line errors. Timings are never
/// asserted.
@Suite struct BenchAttentionTests {
    /// The parsed JSON array of objects printed on stdout.
    func jsonRows(_ result: CLIResult) throws -> [[String: Any]] {
        let parsed = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8))
        return try #require(parsed as? [[String: Any]], "stdout is not a JSON array of objects: \(result.stdout)")
    }

    /// stderr ends with a single line that starts with "Error:" and mentions `text`.
    func expectOneLineError(_ result: CLIResult, mentioning text: String) {
        #expect(result.status != 0)
        let lines = result.stderr.split(separator: "\n").filter { $0.hasPrefix("Error:") }
        #expect(lines.count == 1, "stderr: \(result.stderr)")
        #expect(lines.first?.contains(text) == true, "stderr: \(result.stderr)")
    }

    @Test func attentionJSONHasOneRowPerKernelLengthAndDirection() throws {
        let result = try CLI.run([
            "bench", "attention", "--kernels", "exact,favor-softmax,favor-relu,identity", "--lengths", "16,32",
            "--both-directions", "--heads", "2", "--head-dim", "8", "--features", "16", "--repeats", "1",
            "--format", "json",
        ])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let rows = try jsonRows(result)
        #expect(rows.count == 4 * 2 * 2)
        var seen = Set<String>()
        for row in rows {
            for key in ["kernel", "causal", "length", "seconds", "peak_bytes", "forward_seconds",
                        "backward_seconds", "heads", "features", "saved_bytes", "tensor_bytes"] {
                #expect(row[key] != nil, "missing \(key) in \(row)")
            }
            let kernel = try #require(row["kernel"] as? String)
            let causal = try #require(row["causal"] as? Bool)
            let length = try #require(row["length"] as? Int)
            seen.insert("\(kernel) \(causal) \(length)")
            let seconds = try #require(row["seconds"] as? Double)
            #expect(seconds > 0)
            let peak = try #require(row["peak_bytes"] as? Int)
            #expect(peak >= 0)
            // Inputs and gradients are 8 tensors of [1, 2, L, 8] floats.
            #expect(row["tensor_bytes"] as? Int == 8 * 4 * 2 * length * 8)
            #expect(row["features"] as? Int == (kernel.hasPrefix("favor") ? 16 : 0))
        }
        #expect(seen.count == 16)
    }

    @Test func exactBeyondMaxExactLengthIsSkippedAndSaysSo() throws {
        let arguments = ["bench", "attention", "--kernels", "exact,identity", "--lengths", "16,64",
                         "--max-exact-length", "32", "--heads", "1", "--head-dim", "4", "--repeats", "1"]
        let json = try CLI.run(arguments + ["--format", "json"])
        #expect(json.status == 0, "stderr: \(json.stderr)")
        let rows = try jsonRows(json)
        let skipped = rows.filter { $0["skipped"] != nil }
        #expect(skipped.count == 1)
        #expect(skipped.first?["kernel"] as? String == "exact")
        #expect(skipped.first?["length"] as? Int == 64)
        #expect(skipped.first?["seconds"] is NSNull)
        #expect(rows.filter { $0["skipped"] == nil }.allSatisfy { $0["seconds"] is Double })

        let text = try CLI.run(arguments)
        #expect(text.status == 0)
        #expect(text.stdout.contains("skipped"))
        #expect(text.stdout.contains("max-exact-length"))
    }

    @Test func causalOnlyRunsCausalConfigurations() throws {
        let result = try CLI.run(["bench", "attention", "--kernels", "favor-relu", "--lengths", "24", "--causal",
                                  "--heads", "1", "--head-dim", "4", "--features", "8", "--repeats", "1",
                                  "--format", "json"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let rows = try jsonRows(result)
        #expect(rows.count == 1)
        #expect(rows.first?["causal"] as? Bool == true)
    }

    @Test func attentionTextHasAHeaderAndOneLinePerConfiguration() throws {
        let result = try CLI.run(["bench", "attention", "--kernels", "identity,favor-softmax", "--lengths", "8",
                                  "--heads", "1", "--head-dim", "4", "--features", "4", "--repeats", "1"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("fwd+bwd ms"))
        #expect(result.stdout.contains("peak MiB"))
        #expect(result.stdout.split(separator: "\n").filter { $0.hasPrefix("identity\t") || $0.hasPrefix("favor-softmax\t") }.count == 2)
    }

    @Test func attentionHelpSaysHowPeakMemoryIsMeasured() throws {
        let result = try CLI.run(["bench", "attention", "--help"])
        #expect(result.status == 0)
        let text = result.stdout.replacingOccurrences(of: "\n", with: " ")
        #expect(text.contains("peak RSS"))
        #expect(text.contains("before it allocated the inputs"))
        #expect(!result.stdout.contains("--child"))
    }

    @Test(arguments: [
        (["--kernels", "favor-cosine"], "favor-cosine"),
        (["--lengths", "0"], "--lengths"),
        (["--lengths", "abc"], "--lengths"),
        (["--causal", "--both-directions"], "--both-directions"),
        (["--repeats", "0"], "--repeats"),
        (["--heads", "0"], "--heads"),
        (["--format", "yaml"], "yaml"),
    ])
    func attentionBadFlagsAreOneLineErrors(arguments: [String], mentioning: String) throws {
        let result = try CLI.run(["bench", "attention"] + arguments)
        expectOneLineError(result, mentioning: mentioning)
        #expect(result.stdout.isEmpty)
    }

    @Test func approxJSONHasOneRowPerMapDistributionAndFeatureCount() throws {
        let result = try CLI.run(["bench", "approx", "--length", "32", "--head-dim", "4", "--features", "4,8",
                                  "--seeds", "3", "--format", "json"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let rows = try jsonRows(result)
        #expect(rows.count == 2 * 2 * 2)
        for row in rows {
            for key in ["map", "distribution", "features", "output_mse_mean", "output_mse_std",
                        "matrix_mse_mean", "matrix_mse_std", "seeds", "length", "head_dim"] {
                #expect(row[key] != nil, "missing \(key) in \(row)")
            }
            #expect(row["seeds"] as? Int == 3)
            if row["map"] as? String == "positive" {
                // Positive features always give a finite, non-negative error.
                let mse = try #require(row["output_mse_mean"] as? Double)
                #expect(mse >= 0 && mse.isFinite)
            }
        }
        let pairs = Set(rows.compactMap { row -> String? in
            guard let map = row["map"] as? String, let distribution = row["distribution"] as? String else { return nil }
            return map + "/" + distribution
        })
        #expect(pairs == ["positive/orthogonal", "positive/iid", "trig/orthogonal", "trig/iid"])
    }

    @Test func approxTextComparesOrthogonalWithIid() throws {
        let result = try CLI.run(["bench", "approx", "--length", "16", "--head-dim", "4", "--features", "8",
                                  "--seeds", "2", "--maps", "positive"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("orthogonal vs iid"))
        #expect(result.stdout.contains("output MSE"))
    }

    @Test(arguments: [
        (["--maps", "cosine"], "cosine"),
        (["--distributions", "sobol"], "sobol"),
        (["--features", "0"], "--features"),
        (["--seeds", "0"], "--seeds"),
        (["--input-std", "-1"], "--input-std"),
    ])
    func approxBadFlagsAreOneLineErrors(arguments: [String], mentioning: String) throws {
        let result = try CLI.run(["bench", "approx"] + arguments)
        expectOneLineError(result, mentioning: mentioning)
    }
}
