import Foundation
import RecHub
import Testing

/// YAML configs: every key checked, errors that name file, line and key, `--set` overrides.
struct TrainConfigTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    func parse(_ yaml: String, _ sets: [String] = []) throws -> TrainConfig {
        var node = try ConfigNode.parse(yaml: yaml, file: "test.yaml")
        for s in sets { node = try node.setting(s) }
        return try TrainConfig.parse(node)
    }

    func error(_ yaml: String, _ sets: [String] = []) -> ConfigError? {
        do {
            _ = try parse(yaml, sets)
            return nil
        } catch let e as ConfigError {
            return e
        } catch {
            return nil
        }
    }

    @Test func unknownKeyNamesFileLineAndSuggestion() {
        let e = error("model: mmoe\ndata: {train: a.csv}\nexpert_unit: [8]\n")
        #expect(e?.key == "expert_unit" && e?.file == "test.yaml" && e?.line == 3)
        #expect(e?.description.contains("did you mean 'expert_units'") == true, "\(String(describing: e))")
        let nested = error("data:\n  train: a.csv\n  lables: [click]\n")
        #expect(nested?.key == "data.lables" && nested?.line == 3, "\(String(describing: nested))")
    }

    @Test func wrongTypesAndImpossibleValues() {
        #expect(error("data: {train: a.csv}\nnum_experts: two\n")?.key == "num_experts")
        #expect(error("data: {train: a.csv}\nnum_experts: 0\n")?.message.contains("outside") == true)
        #expect(error("data: {train: a.csv}\nexpert_units: [256, -1]\n")?.key == "expert_units[1]")
        #expect(error("data: {train: a.csv}\nexpert_units: 256\n")?.key == "expert_units")
        #expect(error("data: {train: a.csv}\nmodel: ple2\n")?.message.contains("unknown model") == true)
        #expect(error("data: {train: a.csv}\ntask_weights: [1]\n")?.key == "task_weights")
        #expect(error("data: {train: a.csv}\ntask_weights: [0, 0.0]\n")?.message.contains("all 0") == true)
        #expect(error("data: {train: a.csv}\ntask_weights: [0, 1]\n") == nil)
        #expect(error("data: {train: a.csv}\nembedding_update: sparse\n")?.key == "embedding_update")
        #expect(error("model: mmoe\n")?.key == "data.train")
        #expect(error("data: {train: a.csv}\ntask_specific_lr: {clik: 0.1}\n")?.key == "task_specific_lr.clik")
        #expect(error("data: {train: a.csv}\n: bad\n  - x") != nil, "invalid YAML is an error")
    }

    /// `gemm_backend`, `precision`, `mkl_library` and `onednn_library`: names checked, bf16 only
    /// with oneDNN or MKL, each library key only with its backend, and the keys absent by
    /// default (OpenBLAS in fp32; earlier configs and checkpoints read alike).
    @Test func gemmBackendAndPrecisionKeys() throws {
        let d = try parse("data: {train: a.csv}\n")
        #expect(d.gemmBackend == nil && d.precision == nil && d.mklLibrary == nil)
        let c = try parse("data: {train: a.csv}\ngemm_backend: mkl\nprecision: bf16\nmkl_library: /opt/mkl/lib\n")
        #expect(c.gemmBackend == .mkl && c.precision == .bf16 && c.mklLibrary == "/opt/mkl/lib")
        let unknown = error("data: {train: a.csv}\ngemm_backend: cublas\n")
        #expect(unknown?.key == "gemm_backend" && unknown?.line == 2 && unknown?.message.contains("openblas, mkl, onednn") == true,
                "\(String(describing: unknown))")
        #expect(error("data: {train: a.csv}\nprecision: fp16\n")?.message.contains("fp32, bf16") == true)
        let bf16 = error("data: {train: a.csv}\nprecision: bf16\n")
        #expect(bf16?.key == "precision" && bf16?.message.contains("gemm_backend: onednn or mkl") == true, "\(String(describing: bf16))")
        #expect(error("data: {train: a.csv}\ngemm_backend: openblas\nprecision: bf16\n")?.key == "precision")
        #expect(error("data: {train: a.csv}\nmkl_library: /opt/mkl\n")?.key == "mkl_library")
        let o = try parse("data: {train: a.csv}\ngemm_backend: onednn\nprecision: bf16\nonednn_library: ~/dnnl\n")
        #expect(o.gemmBackend == .onednn && o.precision == .bf16 && o.onednnLibrary == "~/dnnl" && o.gemmLibrary == "~/dnnl")
        #expect(c.gemmLibrary == "/opt/mkl/lib" && d.gemmLibrary == nil)
        #expect(error("data: {train: a.csv}\ngemm_backend: mkl\nonednn_library: /x\n")?.key == "onednn_library")
    }

    @Test func modelSpecificKeysAreRejectedForOtherModels() {
        let e = error("model: shared_bottom\ndata: {train: a.csv}\nnum_experts: 4\n")
        #expect(e?.key == "num_experts" && e?.message.contains("not used by model 'shared_bottom'") == true)
    }

    @Test func overridesReplaceNestedKeysAndParseValuesAsYAML() throws {
        let c = try parse("data: {train: a.csv}\nepochs: 1\n",
                          ["epochs=3", "expert_units=[32,16]", "data.val=v.csv", "task_specific_lr.purchase=0.01"])
        #expect(c.schedule.epochs == 3 && c.architecture.expertUnits == [32, 16] && c.data.validation == "v.csv")
        #expect(c.optimizer.taskLearningRates == ["purchase": 0.01])
        let generated = try parse("data: {generate: {rows: 5000}}\n", ["data.generate.rows=1000", "data.generate.dir=/g"])
        #expect(generated.data.generate?.trainRows == 1000 && generated.data.train == "/g/train.csv"
                && generated.data.test == "/g/test.csv")
        // `key: null`, `~` or empty in a file is the key left out, as `--set key=null`; `{}` by --set is a mapping.
        let nulls = try parse("data:\n  generate: {rows: 2000}\n  train: null\n  val: ~\n  test:\nearlystop_task: null\nmax_steps: ~\n")
        #expect(nulls.data.generate?.trainRows == 2000 && nulls.data.train == "runs/data/generated/train.csv"
                && nulls.schedule.earlyStopTask == nil && nulls.schedule.maxSteps == 0)
        #expect(try parse("model: mmoe\n", ["data.generate={}"]).data.generate == GenerateConfig())
        // A key set to null is still a key: a misspelt one is named, with its line and a suggestion.
        let typo = error("data: {train: a.csv}\nmodel: mmoe\nepochz: ~\n")
        #expect(typo?.key == "epochz" && typo?.file == "test.yaml" && typo?.line == 3
                && typo?.message == "unknown key (did you mean 'epochs'?), set to null", "\(String(describing: typo))")
        #expect(error("data: {train: a.csv, vall: null}\n")?.key == "data.vall")
        let setTypo = error("data: {train: a.csv}\n", ["earlystop_patiense=null"])
        #expect(setTypo?.key == "earlystop_patiense" && setTypo?.file == "--set"
                && setTypo?.message.contains("did you mean 'earlystop_patience'") == true, "\(String(describing: setTypo))")
        #expect(error("data: {train: a.csv}\n", ["data.generat.rows=null"])?.key == "data.generat")
        #expect(error("data: {train: a.csv}\nnum_layers: ~\n") == nil, "a model key of another model, left out")
        // Inside a mapping the config lacks, the key is checked as that mapping's readers would.
        for (path, suggestion) in [("task_specific_lr.clik", "click"), ("pos_weight.clik", "click"),
                                   ("task_sample_space.purchse", "purchase"), ("data.generate.rowz", "rows")] {
            let e = error("data: {train: a.csv}\n", ["\(path)=null"])
            #expect(e?.key == path && e?.file == "--set" && e?.message.contains("did you mean '\(suggestion)'") == true,
                    "\(path): \(String(describing: e))")
        }
        #expect(try parse("data: {train: a.csv}\n", ["task_specific_lr.click=null", "data.generate.rows=null"]).data.generate == nil)
        // A key written twice is refused when the first is null too; YAML's nulls are nulls in --set;
        // a --set mapping of null keys is a mapping.
        #expect(error("data: {train: a.csv}\nmax_steps: ~\nmax_steps: 5\n")?.message == "appears twice")
        #expect(try parse("data: {train: a.csv}\nepochs: 4\n", ["epochs=NULL"]).schedule.epochs == 1)
        #expect(try parse("data: {train: a.csv}\n", ["task_specific_lr={purchase: ~}"]).optimizer.taskLearningRates.isEmpty)
        // Lists that must not be empty.
        #expect(error("data: {train: a.csv, sparse: []}\n")?.key == "data.sparse")
        #expect(error("data: {train: a.csv}\ntask_weights_strategy: gradnorm\ngradnorm_layers: []\n")?.key == "gradnorm_layers")
        // The user's CSVs and generated data do not mix (the run would report the generated
        // test split's oracle beside another split's AUC): the key and the CSV are named.
        for csvKey in ["train", "val", "test"] {
            let mixed = error("data: {generate: {rows: 5000}, \(csvKey): mine.csv}\n")
            #expect(mixed?.key == "data.generate" && mixed?.message.contains("data.\(csvKey) (mine.csv)") == true,
                    "\(String(describing: mixed))")
        }
        let g = try parse("data: {generate: {click_rate: 0.01, purchase_rate: 0.2, selection_bias: 0.8}}\n")
        #expect(g.data.generate?.clickRate == 0.01 && g.data.generate?.purchaseRateGivenClick == 0.2)
        #expect(g.data.generate?.selectionBias == 0.8)
        #expect(error("data: {generate: {click_rate: 0.9}}\n")?.key == "data.generate.click_rate")
        #expect(error("data: {generate: {selection_bias: 1}}\n")?.key == "data.generate.selection_bias")
        #expect(error("data: {train: a.csv}\n", ["epochs"])?.file == "--set")
        #expect(error("data: {train: a.csv}\n", ["epoch=2"])?.key == "epoch")
    }

    /// Tools/fuzz's FuzzConfig found a `--set` value nested 2 858 deep overflowing the YAML
    /// composer's stack; hand-written inputs through it found aliases nested seven deep expanding
    /// 390 bytes into 10⁷ values (the conversion hung).
    @Test func aliasExpansionAndDeepNestingAreRefused() throws {
        var laughs = "l0: &l0 [x,x,x,x,x,x,x,x,x,x]\n"
        for i in 1...6 { laughs += "l\(i): &l\(i) [" + Array(repeating: "*l\(i - 1)", count: 10).joined(separator: ",") + "]\n" }
        #expect { try ConfigNode.parse(yaml: laughs, file: "laughs.yaml") } throws: { "\($0)".contains("more than 100000 values") }
        let deep = "a: " + String(repeating: "[", count: 50_000) + String(repeating: "]", count: 50_000)
        #expect { try ConfigNode.parse(yaml: deep, file: "deep.yaml") } throws: { "\($0)".contains("nested more than 256") }
        let compact = String(repeating: "- ", count: 300) + "x"
        #expect { try ConfigNode.parse(yaml: compact, file: "compact.yaml") } throws: { "\($0)".contains("nested more than 256") }
        // FuzzConfig's crash (minimised to 2886 bytes): a `--set` value of `[` and 2 857 `{`.
        let root = try ConfigNode.parse(yaml: "model: mmoe\n", file: "ok.yaml")
        #expect { try root.setting("expert_units=[" + String(repeating: "{", count: 2_857)) } throws: {
            "\($0)".contains("nested more than 256")
        }
        // Nesting by indentation (a new-user trial: 3 000 levels crashed the composer's stack).
        let indented = (0..<3_000).map { String(repeating: " ", count: $0) + "k:" }.joined(separator: "\n") + " x\n"
        #expect { try ConfigNode.parse(yaml: indented, file: "indented.yaml") } throws: { "\($0)".contains("nested more than 256") }
        let listed = (0..<300).map { String(repeating: " ", count: $0) + "-" }.joined(separator: "\n") + " x\n"
        #expect { try ConfigNode.parse(yaml: listed, file: "listed.yaml") } throws: { "\($0)".contains("nested more than 256") }
        _ = try ConfigNode.parse(yaml: (0..<40).map { String(repeating: " ", count: 2 * $0) + "k:" }.joined(separator: "\n") + " x\n",
                                 file: "ok.yaml")
        // Within the limits both still parse: a few aliases, and nesting 200 deep.
        _ = try ConfigNode.parse(yaml: "u: &u [8, 4]\nv: *u\n", file: "ok.yaml")
        _ = try ConfigNode.parse(yaml: "a: " + String(repeating: "[", count: 200) + String(repeating: "]", count: 200), file: "ok.yaml")
    }

    @Test func builtInDefaultEqualsConfigsDefaultAndEveryConfigParses() throws {
        let file = try String(contentsOf: Self.root.appendingPathComponent("Configs/default.yaml"), encoding: .utf8)
        #expect(file.trimmingCharacters(in: .whitespacesAndNewlines)
                == defaultConfigYAML.trimmingCharacters(in: .whitespacesAndNewlines))
        let dir = Self.root.appendingPathComponent("Configs")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".yaml") }
        #expect(names.count >= 3)
        for name in names {
            let text = try String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)
            #expect(throws: Never.self, "\(name)") { try TrainConfig.parse(ConfigNode.parse(yaml: text, file: name)) }
        }
        let d = try parse(defaultConfigYAML)
        #expect(d.model == .mmoe && d.architecture.expertUnits == [256, 128] && d.architecture.numExperts == 8 && d.architecture.towerUnits == [64, 32])
        #expect(d.data.generate != nil && d.data.train == "runs/data/default/train.csv")
    }

    @Test func taskWeightingKeys() throws {
        let c = try parse("data: {train: a.csv, mask_columns: [is_shown]}\ntask_weights_strategy: metabalance\n"
                          + "relax_factor: 0.5\nbeta: 0.8\nmetabalance_target: purchase\nmetabalance_strategy: b\n"
                          + "task_sample_space: {purchase: click}\npos_weight: {purchase: 20}\nmonitor_every: 10\n")
        #expect(c.taskWeightingMethod == .metaBalance(MetaBalance(relaxFactor: 0.5, beta: 0.8, target: 1, strategy: .B)))
        #expect(c.taskSampleSpace == ["purchase": "click"] && c.posWeight == ["purchase": 20] && c.logging.monitorEvery == 10)
        let g = try parse("data: {train: a.csv}\ntask_weights_strategy: gradnorm\ngradnorm_alpha: 0.5\n")
        #expect(g.taskWeightingMethod == .gradNorm(alpha: 0.5, learningRate: 0.01, tensors: nil))
        #expect(error("data: {train: a.csv}\ntask_weights_strategy: gradnorm\nrelax_factor: 0.5\n")?.key == "relax_factor")
        #expect(error("data: {train: a.csv}\ntask_weights_strategy: uncertainty\ntask_weights: [1, 2]\n")?.key == "task_weights")
        #expect(error("data: {train: a.csv}\ntask_weights_strategy: pcgrad\n")?.message.contains("unknown strategy") == true)
        #expect(error("data: {train: a.csv}\ntask_sample_space: {purchase: shown}\n")?.key == "task_sample_space.purchase")
        #expect(error("data: {train: a.csv}\ntask_weights_strategy: metabalance\nmetabalance_target: cvr\n")?.key == "metabalance_target")
    }
}
