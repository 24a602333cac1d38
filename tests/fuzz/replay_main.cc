// Without libFuzzer (gcc builds): runs every corpus file through the fuzz target, then seeded random
// mutations of them (byte flips, truncations, splices), so CI exercises the target on every build.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: quantclaw_fuzz_replay CORPUS_DIR [MUTATIONS [SELECTORS]]\n";
    return 2;
  }
  const long mutations = argc > 2 ? std::stol(argv[2]) : 20000;
  // How many values of the first byte pick a choice in the target (0: the first byte is plain input).
  const long selectors = argc > 3 ? std::stol(argv[3]) : 0;
  // In name order, so that the seeded mutations (and a failure among them) are the same everywhere.
  std::vector<std::filesystem::path> paths;
  for (const auto& entry : std::filesystem::directory_iterator(argv[1])) {
    if (entry.is_regular_file()) paths.push_back(entry.path());
  }
  std::sort(paths.begin(), paths.end());
  std::vector<std::string> corpus;
  for (const std::filesystem::path& path : paths) {
    std::ifstream file(path, std::ios::binary);
    corpus.emplace_back(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
  }
  if (corpus.empty()) {
    std::cerr << "empty corpus\n";
    return 2;
  }
  // The slowest input, reported so that a replay that grows slow says why; QC_FUZZ_SLOWEST=path keeps it.
  std::chrono::steady_clock::duration slowest{};
  std::string slowest_input;
  const auto run = [&](const std::string& input) {
    const auto start = std::chrono::steady_clock::now();
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
    const auto took = std::chrono::steady_clock::now() - start;
    if (took > slowest) {
      slowest = took;
      slowest_input = input;
    }
  };
  for (const std::string& input : corpus) run(input);
  std::mt19937_64 random(20261123);
  for (long i = 0; i < mutations; ++i) {
    std::string input = corpus[random() % corpus.size()];
    switch (random() % 4) {
      case 0:  // flip a few bytes
        for (int k = 0; k < 1 + int(random() % 4) && !input.empty(); ++k) input[random() % input.size()] ^= char(1 << (random() % 8));
        break;
      case 1:  // truncate
        input.resize(input.empty() ? 0 : random() % input.size());
        break;
      case 2: {  // splice another input's tail
        const std::string& other = corpus[random() % corpus.size()];
        size_t cut = input.empty() ? 0 : random() % input.size();
        size_t from = other.empty() ? 0 : random() % other.size();
        input = input.substr(0, cut) + other.substr(from);
        break;
      }
      case 3:  // insert random bytes
        for (int k = 0; k < 1 + int(random() % 16); ++k) input.insert(input.begin() + (input.empty() ? 0 : random() % input.size()), char(random()));
        break;
    }
    // For targets whose first byte picks what the rest is, keep it one of the choices half the time,
    // so that each choice gets mutated input.
    if (selectors > 0 && !input.empty() && (random() & 1)) input[0] = char(random() % selectors);
    run(input);
  }
  std::cout << "replayed " << corpus.size() << " corpus inputs and " << mutations << " mutations; the slowest took "
            << std::chrono::duration_cast<std::chrono::milliseconds>(slowest).count() << " ms ("
            << slowest_input.size() << " bytes)\n";
  if (const char* keep = std::getenv("QC_FUZZ_SLOWEST")) std::ofstream(keep, std::ios::binary) << slowest_input;
  return 0;
}
