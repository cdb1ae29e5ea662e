// The common start of a subcommand: its arguments parsed against its options.
#pragma once

#include <boost/program_options.hpp>
#include <iostream>
#include <string>
#include <vector>

namespace bb::cli {

// Stores `args` into `vm` (positionals per `pos` when given; without, the parser's default). When
// --help was given it prints the options and returns false: the command then returns kExitOk.
// Otherwise it runs notify() (required options, notifiers) and returns true. boost::program_options
// errors propagate to the command, which words them.
inline bool parse_args(const std::vector<std::string>& args,
                       const boost::program_options::options_description& opts,
                       const boost::program_options::positional_options_description* pos,
                       boost::program_options::variables_map& vm) {
  namespace po = boost::program_options;
  po::command_line_parser parser(args);
  parser.options(opts);
  if (pos) parser.positional(*pos);
  po::store(parser.run(), vm);
  if (vm.count("help")) {
    std::cout << opts << "\n";
    return false;
  }
  po::notify(vm);
  return true;
}

}  // namespace bb::cli
