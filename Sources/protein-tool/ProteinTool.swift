import ArgumentParser

@main
struct ProteinTool: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "protein-tool",
        abstract: "Protein sequence modelling with Performers (FAVOR+ linear attention).",
        subcommands: [
            StatsCommand.self, ConvertCommand.self, TrainCommand.self, EvalCommand.self, ScoreCommand.self,
            FillCommand.self, SimilarityCommand.self, GenerateCommand.self, BenchCommand.self,
        ]
    )
}
