@echo off
rem sumi launcher for Windows: needs a JDK >= 25 (JAVA_HOME) and a built target\sumi.jar
rem (build with "mvnw.cmd -DskipTests package"; the host target needs Linux, CUDA GPUs work on Windows).
setlocal
set "ROOT=%~dp0"
if not defined JAVA_HOME (
  echo sumi: set JAVA_HOME to a JDK 25 or newer 1>&2
  exit /b 1
)
if not exist "%ROOT%target\sumi.jar" (
  echo sumi: building target\sumi.jar ... 1>&2
  call "%ROOT%mvnw.cmd" -q -B -DskipTests package || exit /b 1
)
"%JAVA_HOME%\bin\java" --enable-native-access=ALL-UNNAMED -Xss4m -jar "%ROOT%target\sumi.jar" %*
