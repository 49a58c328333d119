# `cmake --build build --target package` makes tidemark_<version>_<arch>.deb: the CLI, the GUI (when
# built), the capture libraries and the Python hook under /usr/lib/tidemark, the man pages, the bash
# completion and the docs. Its dependencies come from dpkg-shlibdeps, which CPack runs with
# --ignore-missing-info: the CUPTI companion library's libcupti belongs to the user's CUDA toolkit, not
# to a Debian package, and is loaded only when a program initializes CUDA (docs/install.md).
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME tidemark)
set(CPACK_PACKAGE_VENDOR "the tidemark authors")
set(CPACK_PACKAGE_CONTACT "tidemark maintainers <tidemark@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "GPU and host memory profiler for unmodified training programs")
set(CPACK_PACKAGE_DESCRIPTION "tidemark wraps an unmodified training program (C++, CUDA or Python and PyTorch),
records every host and device allocation with its call stack and training phase into one SQLite
file, and reports what made the peak, what leaks or grows, and why an allocation failed while
memory looked free. Includes the tidemark command, the capture libraries and, when built with
Qt 6, the tidemark-gui desktop timeline.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "python3")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "python3-torch, heaptrack")
set(CPACK_PACKAGE_DIRECTORY ${CMAKE_BINARY_DIR}/packages)
include(CPack)
