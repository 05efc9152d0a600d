#include "app/cli.hpp"

int main(int argc, char** argv) {
  return surge::app::run_cli(argc, argv);
}
