// Without libFuzzer (gcc builds): runs every corpus file through the fuzz target, then seeded random
// mutations of them (byte flips, truncations, splices), so CI exercises the target on every build.
#include <cstdint>
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
    std::cerr << "usage: quantclaw_fuzz_replay CORPUS_DIR [MUTATIONS]\n";
    return 2;
  }
  const long mutations = argc > 2 ? std::stol(argv[2]) : 20000;
  std::vector<std::string> corpus;
  for (const auto& entry : std::filesystem::directory_iterator(argv[1])) {
    if (!entry.is_regular_file()) continue;
    std::ifstream file(entry.path(), std::ios::binary);
    corpus.emplace_back(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
  }
  if (corpus.empty()) {
    std::cerr << "empty corpus\n";
    return 2;
  }
  for (const std::string& input : corpus) {
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
  }
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
    // Keep the selector byte meaningful half the time so every call gets mutated input.
    if (!input.empty() && (random() & 1)) input[0] = char(random() % 10);
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
  }
  std::cout << "replayed " << corpus.size() << " corpus inputs and " << mutations << " mutations\n";
  return 0;
}
