import ArgumentParser

@main
enum Main {
    static func main() async {
        await MirrorSD.main(Presets.expand(Array(CommandLine.arguments.dropFirst())))
    }
}

struct MirrorSD: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mirror-sd",
        abstract: "LLM inference on the CPU, made faster with Mirror Speculative Decoding.",
        discussion: """
            Reads llama.cpp GGUF files as they are. The default model is \(ModelOptions.defaultModel) \
            (fetch it with models/fetch.sh).
            """,
        subcommands: [GenerateCommand.self, TokenizeCommand.self, InspectCommand.self, BenchDecodeCommand.self,
                      BenchInt8Command.self, QuantizeCommand.self, BenchCommand.self, EvalDraftCommand.self, ProfileCommand.self, ProfileKernelsCommand.self,
                      CountAllocationsCommand.self, ServeCommand.self, KnobsCommand.self, BenchBatchCommand.self, LensDataCommand.self, EvalLensCommand.self],
        defaultSubcommand: nil)
}
